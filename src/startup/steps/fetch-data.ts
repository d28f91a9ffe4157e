// Fills the empty data directory from the spec's data source (initdb, base backup, Neon).
import type { SourceContext } from "../sources/source-driver.js";
import type { StartupContext, StartupStep } from "../startup-context.js";

export function sourceContext(ctx: StartupContext): SourceContext {
  return {
    pgdata: ctx.options.pgdata,
    spec: ctx.spec,
    pg: ctx.pg,
    osUser: ctx.osUser,
    connstr: ctx.options.connstr,
    log: ctx.log.child({ source: ctx.source.name }),
    signal: ctx.signal,
    record: ctx.record,
    progress: ctx.progress,
    runtimeDir: ctx.options.runtimeDir,
    computeId: ctx.options.computeId,
  };
}

export const fetchDataStep: StartupStep = {
  name: "fetch_data",
  metric: "fetch_data_ms",
  async run(ctx) {
    return { sourceResult: await ctx.source.prepare(sourceContext(ctx)) };
  },
};
