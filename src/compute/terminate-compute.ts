// POST /terminate and the Terminate RPC: stop Postgres (fast: SIGINT, a shutdown checkpoint is
// written; immediate: SIGQUIT), move to `terminated` and ask the agent to exit: after the grace
// period for fast, as soon as the answer is out for immediate. Idempotent once terminated.
// Works from every state: a start in progress is cancelled first (it stops before its next
// step), and a failed compute's Postgres, if still running, is stopped like a running one.
import type { TerminateMode, TerminateResult } from "../api/compute-api.js";
import { stopSidecars } from "../sidecars/configure-sidecars.js";
import type { ComputeRuntime } from "./compute-runtime.js";
import { finishAfterFastShutdown, prepareFastShutdown } from "./source-hooks.js";

export async function terminateCompute(rt: ComputeRuntime, mode: TerminateMode): Promise<TerminateResult> {
  const status = rt.state.status;
  if (status === "terminated") return { lsn: rt.terminateLsn, alreadyTerminated: true };
  if (status === "termination_pending_fast" || status === "termination_pending_immediate") {
    await rt.state.waitFor((s) => s.status === "terminated");
    return { lsn: rt.terminateLsn, alreadyTerminated: false };
  }
  rt.state.transition(mode === "fast" ? "termination_pending_fast" : "termination_pending_immediate");
  const t0 = performance.now();
  stopSidecars(rt.options, rt.log);
  if (rt.starting) {
    rt.shutdown.abort(new Error("the compute is being terminated"));
    await rt.starting;
  }
  let code = 0;
  const pm = rt.postmaster?.running ? rt.postmaster : null;
  if (pm) {
    if (mode === "fast") await prepareFastShutdown(rt);
    const exit = await pm.stop(mode);
    code = exit.signal ? 1 : (exit.code ?? 0);
    if (mode === "fast") rt.terminateLsn = await finishAfterFastShutdown(rt);
  }
  rt.log.info(
    { mode, duration_ms: Math.round(performance.now() - t0), lsn: rt.terminateLsn },
    "compute terminated",
  );
  rt.state.transition("terminated");
  rt.requestExit(code, mode === "fast" ? "grace" : "soon");
  return { lsn: rt.terminateLsn, alreadyTerminated: false };
}
