// POST /terminate and the Terminate RPC: stop Postgres (fast: SIGINT, a shutdown checkpoint is
// written; immediate: SIGQUIT), move to `terminated` and ask the agent to exit: after the grace
// period for fast, as soon as the answer is out for immediate. Idempotent once terminated.
import type { TerminateMode, TerminateResult } from "../api/compute-api.js";
import { stopSidecars } from "../sidecars/configure-sidecars.js";
import type { ComputeRuntime } from "./compute-runtime.js";
import { OperationError } from "./operation-error.js";
import { displayStatus } from "./status.js";

export async function terminateCompute(rt: ComputeRuntime, mode: TerminateMode): Promise<TerminateResult> {
  const status = rt.state.status;
  if (status === "terminated") return { lsn: rt.terminateLsn, alreadyTerminated: true };
  if (status === "termination_pending_fast" || status === "termination_pending_immediate") {
    await rt.state.waitFor((s) => s.status === "terminated");
    return { lsn: rt.terminateLsn, alreadyTerminated: false };
  }
  if (status !== "empty" && status !== "running") {
    throw new OperationError("failed_precondition", `invalid compute status: ${displayStatus(status)}`);
  }
  rt.state.transition(mode === "fast" ? "termination_pending_fast" : "termination_pending_immediate");
  const t0 = performance.now();
  stopSidecars(rt.options, rt.log);
  let code = 0;
  const pm = rt.postmaster;
  if (pm) {
    const exit = await pm.stop(mode);
    code = exit.signal ? 1 : (exit.code ?? 0);
    if (mode === "fast" && rt.spec?.mode.kind === "primary" && rt.source?.afterShutdown && rt.spec) {
      rt.terminateLsn = await rt.source
        .afterShutdown({
          pgdata: rt.options.pgdata,
          spec: rt.spec,
          pg: rt.pg,
          osUser: rt.osUser,
          connstr: rt.options.connstr,
          log: rt.log,
          signal: rt.shutdown.signal,
          progress: (phase) => rt.state.beginProgress(phase),
          record: (n, v) => rt.timings.record(n, v),
        })
        .catch((err: unknown) => {
          rt.log.error({ err }, "final sync after shutdown failed");
          return null;
        });
    }
  }
  rt.log.info(
    { mode, duration_ms: Math.round(performance.now() - t0), lsn: rt.terminateLsn },
    "compute terminated",
  );
  rt.state.transition("terminated");
  rt.requestExit(code, mode === "fast" ? "grace" : "soon");
  return { lsn: rt.terminateLsn, alreadyTerminated: false };
}
