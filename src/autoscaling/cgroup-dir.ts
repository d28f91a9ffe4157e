// Where the Postgres cgroup lives and how a process is put into it. `--cgroup` is a name under
// the cgroup v2 mount (`neon-postgres` -> /sys/fs/cgroup/neon-postgres) or an absolute path, so
// tests and unusual hosts can point it at a directory they control.
import { closeSync, constants, existsSync, openSync, statSync, writeSync } from "node:fs";
import path from "node:path";

export const CGROUP_V2_MOUNT = "/sys/fs/cgroup";
export const DEFAULT_CGROUP = "neon-postgres";

/** The cgroup's directory: absolute paths as given, names under /sys/fs/cgroup. */
export function resolveCgroupDir(cgroup: string): string {
  if (cgroup === "") throw new Error("--cgroup must not be empty");
  return path.isAbsolute(cgroup) ? path.resolve(cgroup) : path.join(CGROUP_V2_MOUNT, cgroup);
}

/** The only file the monitor reads: cgroup v2 memory statistics. */
export function memoryStatPath(cgroupDir: string): string {
  return path.join(cgroupDir, "memory.stat");
}

/** Why `dir` is no usable cgroup v2 directory, or null when it is one (or looks like one). */
function missingCgroupReason(dir: string): string | null {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // handled below
  }
  if (isDir) return null;
  const unified = existsSync(path.join(CGROUP_V2_MOUNT, "cgroup.controllers"));
  const hint =
    dir.startsWith(`${CGROUP_V2_MOUNT}/`) && !unified
      ? ` (${CGROUP_V2_MOUNT} is not a cgroup v2 unified hierarchy on this host)`
      : "";
  return `cgroup directory ${dir} does not exist${hint}`;
}

/**
 * Moves `pid` into the cgroup by writing it to `<dir>/cgroup.procs`. Children forked afterwards
 * inherit the cgroup, so call it before the process forks (ideally on a wrapper before exec).
 * Never throws: the caller logs the reason and runs Postgres outside the cgroup.
 */
export function enterCgroup(pid: number, cgroup: string): { ok: true } | { ok: false; reason: string } {
  if (!Number.isInteger(pid) || pid <= 0) return { ok: false, reason: `invalid pid ${pid}` };
  let dir: string;
  try {
    dir = resolveCgroupDir(cgroup);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  const missing = missingCgroupReason(dir);
  if (missing) return { ok: false, reason: missing };
  const procs = path.join(dir, "cgroup.procs");
  let fd: number;
  try {
    // No O_CREAT: a directory without cgroup.procs is not a cgroup, and creating the file would
    // silently "succeed" without moving anything.
    fd = openSync(procs, constants.O_WRONLY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { ok: false, reason: `${dir} is not a cgroup: it has no cgroup.procs` };
    return { ok: false, reason: `cannot open ${procs} for writing: ${code ?? (err as Error).message}` };
  }
  try {
    writeSync(fd, `${pid}\n`);
    return { ok: true };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "EBUSY" || code === "EOPNOTSUPP"
        ? " (the cgroup has child cgroups or controllers that forbid processes here)"
        : code === "ESRCH"
          ? " (no such process)"
          : "";
    return {
      ok: false,
      reason: `writing pid ${pid} to ${procs} failed: ${code ?? (err as Error).message}${why}`,
    };
  } finally {
    closeSync(fd);
  }
}
