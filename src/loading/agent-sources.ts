// The data sources this agent offers, by spec `source.kind`. Base-backup sources load lazily.
import type { AgentOptions } from "../cli/options.js";
import type { SourceFactories } from "../startup/plan-startup.js";
import { initdbSource } from "../startup/sources/initdb.js";
import { cachedInitdbSource } from "../startup/sources/template-cache-source.js";
import type { TemplateStaging } from "../startup/sources/template-staging.js";
import { lazySource } from "./lazy-source.js";
import * as load from "./modules.js";

/** `staging`: the data directory staged while waiting for a spec; any other source discards it. */
export function agentSources(options: AgentOptions, staging: TemplateStaging | null = null): SourceFactories {
  const { cacheDir } = options;
  // --no-template-cache (cacheDir null): initdb on every start (or a launch's head start ran it).
  const initdb = () => (cacheDir === null ? initdbSource(staging) : cachedInitdbSource(cacheDir, staging));
  const notStaged =
    <T>(kind: string, make: () => T) =>
    () => {
      staging?.discard(`the spec's source is ${kind}`);
      return make();
    };
  return {
    initdb,
    primary: notStaged(
      "primary",
      lazySource("primary-basebackup", async () =>
        (await load.primaryBasebackup()).primaryBasebackupSource(),
      ),
    ),
    neon: notStaged(
      "neon",
      lazySource("neon-basebackup", async () => (await load.neonSource()).neonSource()),
    ),
    archive: notStaged(
      "archive",
      lazySource("archive", async () => (await load.archiveSource()).archiveSource({ initdb }), {
        afterStart: true,
        whileRunning: true,
        status: true,
        release: true,
        beforeShutdown: true,
      }),
    ),
  };
}
