// A child process that fills a directory the caller removes when the work is dropped: on abort
// it is signalled and then awaited, never abandoned, so nothing writes into the directory after
// the caller's cleanup (node's own `signal` option rejects at the abort, while the child still
// runs). node:child_process, not execa: a launch's head start runs these before the agent's
// modules have loaded.
import { type SpawnOptions, spawn } from "node:child_process";

export interface RunToExit {
  /** What the error message calls it, e.g. "initdb". */
  readonly what: string;
  readonly signal?: AbortSignal;
  /** Sent on abort: SIGTERM lets initdb remove what it wrote; a `cp` just stops. */
  readonly abortWith?: NodeJS.Signals;
}

export function runToExit(
  command: string,
  args: readonly string[],
  options: Omit<SpawnOptions, "stdio" | "signal">,
  run: RunToExit,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (run.signal?.aborted) {
      reject(run.signal.reason);
      return;
    }
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const keep = (d: Buffer) => {
      if (output.length < 16_000) output += d.toString();
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const abort = () => child.kill(run.abortWith ?? "SIGTERM");
    run.signal?.addEventListener("abort", abort, { once: true });
    let spawnError: Error | null = null;
    child.on("error", (err) => {
      spawnError = err;
    });
    child.on("close", (code, sig) => {
      run.signal?.removeEventListener("abort", abort);
      if (run.signal?.aborted) reject(run.signal.reason);
      else if (spawnError) reject(spawnError);
      else if (code === 0) resolve();
      else reject(new Error(`${run.what} failed (${sig ?? `exit ${code}`}): ${output.trim()}`));
    });
  });
}
