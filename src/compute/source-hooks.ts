// The data source's hooks outside the start pipeline: after Postgres stopped (the final LSN of a
// fast shutdown), and as the agent exits (release what the source holds, e.g. the archive
// source's stanza lease). Shared by /terminate, the signal handlers and the agent's exit path.
import type { SourceContext } from "../startup/sources/source-driver.js";
import type { ComputeRuntime } from "./compute-runtime.js";

export function runtimeSourceContext(rt: ComputeRuntime): SourceContext | null {
  if (!rt.spec) return null;
  return {
    pgdata: rt.options.pgdata,
    spec: rt.spec,
    pg: rt.pg,
    osUser: rt.osUser,
    connstr: rt.options.connstr,
    log: rt.log,
    signal: rt.shutdown.signal,
    record: (n, v) => rt.timings.record(n, v),
    progress: (phase) => rt.state.beginProgress(phase),
    runtimeDir: rt.options.runtimeDir,
    computeId: rt.options.computeId,
  };
}

/** Before a fast shutdown of a primary: the source's last work while Postgres runs. Never throws. */
export async function prepareFastShutdown(rt: ComputeRuntime): Promise<void> {
  const ctx = runtimeSourceContext(rt);
  if (!ctx || rt.spec?.mode.kind !== "primary" || !rt.source?.beforeShutdown) return;
  await rt.source
    .beforeShutdown(ctx)
    .catch((err: unknown) => rt.log.error({ err }, "data source work before shutdown failed"));
}

/** After a fast shutdown of a primary: the source's final step; returns the LSN /terminate reports. */
export async function finishAfterFastShutdown(rt: ComputeRuntime): Promise<string | null> {
  const ctx = runtimeSourceContext(rt);
  if (!ctx || rt.spec?.mode.kind !== "primary" || !rt.source?.afterShutdown) return null;
  return rt.source.afterShutdown(ctx).catch((err: unknown) => {
    rt.log.error({ err }, "final sync after shutdown failed");
    return null;
  });
}

/** As the agent exits, once Postgres is gone: the source releases what it holds. Never throws. */
export async function releaseSource(rt: ComputeRuntime): Promise<void> {
  const ctx = runtimeSourceContext(rt);
  if (!ctx || !rt.source?.release) return;
  await rt.source.release(ctx).catch((err: unknown) => rt.log.error({ err }, "data source release failed"));
}
