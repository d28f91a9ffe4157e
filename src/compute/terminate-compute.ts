// The one termination of the compute, whoever asks: POST /terminate and the Terminate RPC, or
// SIGTERM/SIGINT/SIGQUIT to the agent. Stops Postgres along a ladder (fast: SIGINT, a shutdown
// checkpoint is written; escalated to immediate, SIGQUIT, after --shutdown-escalation-s;
// immediate: SIGQUIT at once), moves to `terminated` and asks the agent to exit: after the grace
// period for a fast /terminate, as soon as possible otherwise. Idempotent: a second request waits
// for the first. Works from every state: a start in progress is cancelled first (it stops before
// its next step), and a failed compute's Postgres, if still running, is stopped like a running one.
import type { TerminateMode, TerminateResult } from "../api/compute-api.js";
import type { Postmaster, PostmasterExit } from "../postgres/postmaster.js";
import { stopSidecars } from "../sidecars/configure-sidecars.js";
import type { ComputeRuntime } from "./compute-runtime.js";
import { finishAfterFastShutdown, prepareFastShutdown } from "./source-hooks.js";

/** Who asked: a client of the API, or a signal to the agent (which then exits without grace). */
export type TerminateCause = "api" | "signal";

/**
 * Stops the postmaster in `mode`; a fast shutdown still running after `escalationS` is made
 * immediate. Says whether it had to escalate (no shutdown checkpoint then).
 */
async function stopPostmaster(
  rt: ComputeRuntime,
  pm: Postmaster,
  mode: TerminateMode,
): Promise<{ exit: PostmasterExit; escalated: boolean }> {
  if (mode === "immediate") return { exit: await pm.stop("immediate"), escalated: false };
  const escalationS = rt.options.shutdownEscalationS;
  let escalated = false;
  const escalate = setTimeout(() => {
    escalated = true;
    rt.log.warn(
      { after_s: escalationS },
      "fast shutdown did not finish in time; sending SIGQUIT (immediate shutdown)",
    );
    pm.signal("SIGQUIT");
  }, escalationS * 1000);
  try {
    return { exit: await pm.stop("fast"), escalated };
  } finally {
    clearTimeout(escalate);
  }
}

export async function terminateCompute(
  rt: ComputeRuntime,
  mode: TerminateMode,
  cause: TerminateCause = "api",
): Promise<TerminateResult> {
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
    const { exit, escalated } = await stopPostmaster(rt, pm, mode);
    code = exit.signal ? 1 : (exit.code ?? 0);
    // The source's last step after a clean fast shutdown (archive: push the last WAL, release the
    // lease; Neon: the final sync-safekeepers, whose LSN /terminate reports).
    if (mode === "fast" && !escalated && !exit.signal) rt.terminateLsn = await finishAfterFastShutdown(rt);
  }
  rt.log.info(
    { mode, cause, duration_ms: Math.round(performance.now() - t0), lsn: rt.terminateLsn },
    "compute terminated",
  );
  rt.state.transition("terminated");
  rt.requestExit(code, mode === "fast" && cause === "api" ? "grace" : "soon");
  return { lsn: rt.terminateLsn, alreadyTerminated: false };
}
