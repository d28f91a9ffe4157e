// SIGTERM, SIGINT and SIGQUIT to the agent forward a fast shutdown to Postgres, escalated to an
// immediate one (SIGQUIT) after --shutdown-escalation-s; the agent then exits with Postgres's exit
// code as soon as Postgres is gone (a second signal skips any remaining grace period). SIGHUP
// re-reads the TLS certificate files (the agent's listeners', Postgres's) at once, for file
// systems without change notifications; it never stops the agent.
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
  const reread = () => {
    const certificates = new Set(rt.tlsCertificates.values());
    rt.log.info(
      { signal: "SIGHUP", certificates: certificates.size },
      "received SIGHUP: re-reading TLS certificate files",
    );
    for (const c of certificates) c.poke();
  };
  for (const s of SIGNALS) process.on(s, handler);
  process.on("SIGHUP", reread);
  return () => {
    for (const s of SIGNALS) process.off(s, handler);
    process.off("SIGHUP", reread);
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
