// The data sources this agent offers, by spec `source.kind`.
import type { AgentOptions } from "../cli/options.js";
import type { SourceFactories } from "../startup/plan.js";
import { initdbSource } from "../startup/sources/initdb.js";

export function agentSources(_options: AgentOptions): SourceFactories {
  return {
    initdb: initdbSource,
    primary: () => {
      throw new Error("the primary source is not wired yet");
    },
    neon: () => {
      throw new Error("the neon source is not wired yet");
    },
  };
}
