// The data sources this agent offers, by spec `source.kind`.
import type { AgentOptions } from "../cli/options.js";
import type { SourceFactories } from "../startup/plan.js";
import { initdbSource } from "../startup/sources/initdb.js";
import { neonSource } from "../startup/sources/neon-source.js";
import { primaryBasebackupSource } from "../startup/sources/primary-basebackup.js";
import { cachedInitdbSource } from "../startup/sources/template-cache-source.js";

export function agentSources(options: AgentOptions): SourceFactories {
  const { cacheDir } = options;
  return {
    // --no-template-cache (cacheDir null): initdb on every start.
    initdb: () => (cacheDir === null ? initdbSource() : cachedInitdbSource(cacheDir)),
    primary: () => primaryBasebackupSource(),
    neon: () => neonSource(),
  };
}
