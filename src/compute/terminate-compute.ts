// The one termination of the compute, whoever asks: POST /terminate and the Terminate RPC, or
// SIGTERM/SIGINT/SIGQUIT to the agent. Stops Postgres along one ladder (postgres/postmaster.ts
// `shutdown`): fast = SIGINT, a shutdown checkpoint is written; immediate = SIGQUIT after
// --shutdown-escalation-s; kill = SIGKILL to every Postgres process after another
// --shutdown-escalation-s. A fast terminate starts at the first rung, an immediate one at
// SIGQUIT. Then it moves to `terminated` (with the final LSN) and asks the agent to exit: after
// the grace period for a fast /terminate, as soon as possible otherwise. Idempotent: a second
// request waits for the first. Works from every state: a start in progress is cancelled first
// (it stops before its next step), and a failed compute's Postgres, if still running, is stopped
// like a running one.
import type { TerminateMode, TerminateResult } from "../api/compute-api.js";
import { stopSidecars } from "../sidecars/configure-sidecars.js";
import type { ComputeRuntime } from "./compute-runtime.js";
import { finishAfterFastShutdown, prepareFastShutdown } from "./source-hooks.js";

/** Who asked: a client of the API, or a signal to the agent (which then exits without grace). */
export type TerminateCause = "api" | "signal";

/**
 * Stops the start's postmaster, if it runs, along the shutdown ladder from `mode`. Returns the
 * exit code the agent exits with and, after a clean fast shutdown, the source's final LSN.
 */
export async function stopPostgres(
  rt: ComputeRuntime,
  mode: TerminateMode,
): Promise<{ code: number; lsn: string | null }> {
  const pm = rt.postmaster?.running ? rt.postmaster : null;
  if (!pm) return { code: 0, lsn: null };
  if (mode === "fast") await prepareFastShutdown(rt);
  const { exit, rung } = await pm.shutdown(mode);
  const code = !exit || exit.signal ? 1 : (exit.code ?? 0);
  // The source's last step after a clean fast shutdown (archive: push the last WAL, release the
  // lease; Neon: the final sync-safekeepers, whose LSN /terminate reports).
  const clean = rung === "fast" && exit !== null && !exit.signal;
  return { code, lsn: clean ? await finishAfterFastShutdown(rt) : null };
}

export async function terminateCompute(
  rt: ComputeRuntime,
  mode: TerminateMode,
  cause: TerminateCause = "api",
): Promise<TerminateResult> {
  const status = rt.state.status;
  if (status === "terminated") return { lsn: rt.state.snapshot.terminateLsn, alreadyTerminated: true };
  if (status === "termination_pending_fast" || status === "termination_pending_immediate") {
    const done = await rt.state.waitFor((s) => s.status === "terminated");
    return { lsn: done.terminateLsn, alreadyTerminated: false };
  }
  rt.state.transition(mode === "fast" ? "termination_pending_fast" : "termination_pending_immediate");
  const t0 = performance.now();
  stopSidecars(rt.options, rt.log);
  if (rt.starting) {
    rt.shutdown.abort(new Error("the compute is being terminated"));
    await rt.starting;
  }
  const { code, lsn } = await stopPostgres(rt, mode);
  rt.log.info({ mode, cause, duration_ms: Math.round(performance.now() - t0), lsn }, "compute terminated");
  rt.state.transition("terminated", { terminateLsn: lsn });
  rt.requestExit(code, mode === "fast" && cause === "api" ? "grace" : "soon");
  return { lsn, alreadyTerminated: false };
}
