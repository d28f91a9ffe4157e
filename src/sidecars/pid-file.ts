// Reads another process's pid file the way Neon's utils::pid_file does: the file may be missing,
// present but not locked (its process is gone, or never locks it, like pgbouncer), or locked by
// a live process (local_proxy flock()s its pid file). Whether a lock is held is read from
// /proc/locks, so checking never takes or disturbs the lock.
import { readFileSync, statSync } from "node:fs";

export type PidFile =
  | { state: "missing" }
  | { state: "unlocked"; pid: number | null }
  | { state: "locked"; pid: number | null };

/** glibc's major()/minor() of a st_dev value. */
function deviceNumbers(dev: number): [number, number] {
  const big = BigInt(dev);
  const major = Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn));
  const minor = Number((big & 0xffn) | ((big >> 12n) & ~0xffn));
  return [major, minor];
}

/** Whether /proc/locks lists a lock on the file with this device and inode. */
export function isLocked(file: string, locksText?: string): boolean {
  const st = statSync(file);
  const [major, minor] = deviceNumbers(st.dev);
  let text = locksText;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/locks", "utf8");
    } catch {
      return false;
    }
  }
  for (const line of text.split("\n")) {
    // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (a "->" marks a waiter, not a holder)
    const m = /^\d+:\s+(?!->)\S+\s+\S+\s+\S+\s+\d+\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (!m) continue;
    if (Number.parseInt(m[1], 16) === major && Number.parseInt(m[2], 16) === minor && Number(m[3]) === st.ino)
      return true;
  }
  return false;
}

export function readPidFile(file: string): PidFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { state: "missing" };
    throw err;
  }
  const n = Number.parseInt(text.trim().split("\n")[0] ?? "", 10);
  const pid = Number.isInteger(n) && n > 1 ? n : null;
  return { state: isLocked(file) ? "locked" : "unlocked", pid };
}

/** The command name of a live process (/proc/<pid>/comm), or null when there is none. */
export function processName(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return null;
  }
}
