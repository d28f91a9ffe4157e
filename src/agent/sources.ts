// The data sources this agent offers, by spec `source.kind`. Base-backup sources load lazily.
import type { AgentOptions } from "../cli/options.js";
import type { SourceFactories } from "../startup/plan.js";
import { initdbSource } from "../startup/sources/initdb.js";
import { lazySource } from "../startup/sources/lazy-source.js";
import { cachedInitdbSource } from "../startup/sources/template-cache-source.js";

export function agentSources(options: AgentOptions): SourceFactories {
  const { cacheDir } = options;
  // --no-template-cache (cacheDir null): initdb on every start.
  const initdb = () => (cacheDir === null ? initdbSource() : cachedInitdbSource(cacheDir));
  return {
    initdb,
    primary: lazySource("primary-basebackup", async () =>
      (await import("../startup/sources/primary-basebackup.js")).primaryBasebackupSource(),
    ),
    neon: lazySource("neon-basebackup", async () =>
      (await import("../startup/sources/neon-source.js")).neonSource(),
    ),
    archive: lazySource(
      "archive",
      async () => (await import("../startup/sources/archive-source.js")).archiveSource({ initdb }),
      { afterStart: true, whileRunning: true, status: true, release: true, beforeShutdown: true },
    ),
  };
}
