// SIGTERM, SIGINT and SIGQUIT to the agent terminate the compute fast, as /terminate does
// (compute/terminate-compute.ts: the one termination, with its shutdown ladder); the agent
// then exits with Postgres's exit code as soon as Postgres is gone (a second signal, or a signal
// during a /terminate, skips any remaining grace period). SIGHUP re-reads the TLS certificate
// files (the agent's listeners', Postgres's) at once, for file systems without change
// notifications; it never stops the agent.
import type { ComputeRuntime } from "../compute/compute-runtime.js";
import { terminateCompute } from "../compute/terminate-compute.js";

const SIGNALS: NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGQUIT"];

export function installSignalHandlers(rt: ComputeRuntime, onSignal: () => void): () => void {
  const handler = (sig: NodeJS.Signals) => {
    rt.log.info({ signal: sig }, `received ${sig} termination signal`);
    rt.shutdown.abort(new Error(`received ${sig}`));
    onSignal();
    terminateCompute(rt, "fast", "signal").catch((err: unknown) => {
      rt.log.error({ err }, "termination after a signal failed");
      rt.requestExit(1, "soon");
    });
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
