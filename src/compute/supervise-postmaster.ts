// Stays attached to the postmaster: when it exits and nobody asked for it, the agent logs it
// and exits with Postgres's exit code (1 when it was killed by a signal). Leftover processes of
// its process group are killed so no postgres process outlives it.
import type { Postmaster } from "../postgres/postmaster.js";
import type { ComputeRuntime } from "./compute-runtime.js";

function killProcessGroup(pm: Postmaster): void {
  try {
    process.kill(-pm.pid, "SIGKILL");
  } catch {
    // group already gone
  }
}

export function supervisePostmaster(rt: ComputeRuntime, pm: Postmaster): void {
  void pm.exited.then((exit) => {
    killProcessGroup(pm);
    const status = rt.state.status;
    if (status === "termination_pending_fast" || status === "termination_pending_immediate") return;
    if (status === "terminated" || rt.exitPending) return;
    const code = exit.signal ? 1 : (exit.code ?? 1);
    rt.log.error(
      { exit_code: exit.code, signal: exit.signal, status },
      `Postgres exited unexpectedly: ${pm.describeFailure()}`,
    );
    rt.requestExit(code, "soon");
  });
}
