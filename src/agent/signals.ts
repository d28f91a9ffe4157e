// SIGTERM, SIGINT and SIGQUIT to the agent forward a fast shutdown to Postgres, escalated to an
// immediate one (SIGQUIT) after --shutdown-escalation-s; the agent then exits with Postgres's exit
// code as soon as Postgres is gone (a second signal skips any remaining grace period).
import type { ComputeRuntime } from "../compute/compute-runtime.js";
import { finishAfterFastShutdown, prepareFastShutdown } from "../compute/source-hooks.js";
import { stopSidecars } from "../sidecars/configure-sidecars.js";

const SIGNALS: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGQUIT"];

export function installSignalHandlers(rt: ComputeRuntime, onSignal: () => void): () => void {
  const handler = (sig: NodeJS.Signals) => {
    rt.log.info({ signal: sig }, `received ${sig} termination signal`);
    rt.shutdown.abort(new Error(`received ${sig}`));
    onSignal();
    void stopForSignal(rt);
  };
  for (const s of SIGNALS) process.on(s, handler);
  return () => {
    for (const s of SIGNALS) process.off(s, handler);
  };
}

async function stopForSignal(rt: ComputeRuntime): Promise<void> {
  rt.state.tryTransition("termination_pending_fast");
  stopSidecars(rt.options, rt.log);
  // A start in progress stops before its next step (rt.shutdown is aborted); then its Postgres,
  // if it got that far, is stopped here.
  await rt.starting;
  const pm = rt.postmaster;
  let code = 0;
  if (pm?.running) {
    await prepareFastShutdown(rt);
    const escalationMs = rt.options.shutdownEscalationS * 1000;
    const escalate = setTimeout(() => {
      rt.log.warn(
        { after_s: rt.options.shutdownEscalationS },
        "fast shutdown did not finish in time; sending SIGQUIT (immediate shutdown)",
      );
      pm.signal("SIGQUIT");
    }, escalationMs);
    const exit = await pm.stop("fast");
    clearTimeout(escalate);
    code = exit.signal ? 1 : (exit.code ?? 0);
    // Like a fast /terminate: the source's last step (archive: push the last WAL, release the lease).
    if (!exit.signal) rt.terminateLsn = await finishAfterFastShutdown(rt);
  }
  rt.state.tryTransition("terminated");
  rt.requestExit(code, "soon");
}
