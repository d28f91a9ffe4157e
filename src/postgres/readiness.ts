// Detects that the postmaster accepts connections without fixed sleeps: the postmaster writes
// "ready" as the last line of postmaster.pid once it does. We watch the data directory with
// inotify (fs.watch) and also re-check on a short interval in case an event is missed.
import { readFileSync, watch } from "node:fs";
import path from "node:path";

export class PostgresStartError extends Error {
  override readonly name = "PostgresStartError";
}

// A synchronous read: the file is a few lines, and skipping the thread-pool round trip shortens
// the detection latency (bench: agent start, readiness detection).
function pidFileSaysReady(pidFile: string): boolean {
  try {
    const lines = readFileSync(pidFile, "utf8").trimEnd().split("\n");
    return lines.length >= 8 && lines.at(-1)?.trim() === "ready";
  } catch {
    return false;
  }
}

export interface WaitReadyOptions {
  pgdata: string;
  timeoutMs: number;
  /** Rejects early when the postmaster exits before becoming ready. */
  exited: Promise<unknown>;
  describeExit: () => string;
  pollMs?: number;
}

export function waitForReady(opts: WaitReadyOptions): Promise<void> {
  const pidFile = path.join(opts.pgdata, "postmaster.pid");
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      watcher.close();
      clearInterval(poll);
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const check = () => {
      if (pidFileSaysReady(pidFile)) finish();
    };
    const watcher = watch(opts.pgdata, { persistent: false }, (_event, name) => {
      if (name === "postmaster.pid") check();
    });
    watcher.on("error", () => {});
    const poll = setInterval(check, opts.pollMs ?? 10);
    const timer = setTimeout(
      () =>
        finish(new PostgresStartError(`timed out after ${opts.timeoutMs} ms waiting for Postgres to start`)),
      opts.timeoutMs,
    );
    opts.exited.then(() => finish(new PostgresStartError(opts.describeExit())));
    check();
  });
}
