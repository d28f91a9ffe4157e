// A memory cgroup with a limit, to run a process as on a compute of that size: Node sizes V8's heap
// from the memory it may use (the cgroup's limit, else the machine's RAM), the young generation
// among it, so an agent's footprint on this 24 GB machine is not what it is on a 1 GB compute.
// Made under this process's own cgroup (cgroup v1's memory hierarchy, or cgroup v2 with the
// memory controller enabled for children), removed by close().
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface MemoryCgroup {
  readonly dir: string;
  /** A prefix for spawnAgent: the process enters the cgroup, then execs its command line. */
  readonly prefix: readonly string[];
  /** Removes the cgroup (every process in it must have exited). */
  close(): void;
}

/** The memory cgroup directory of this process and the name of its limit file. */
function ownMemoryCgroup(): { dir: string; limitFile: string } {
  const lines = readFileSync("/proc/self/cgroup", "utf8").trim().split("\n");
  const v1 = lines
    .map((l) => l.split(":"))
    .find(([, controllers]) => controllers.split(",").includes("memory"));
  if (v1) return { dir: path.join("/sys/fs/cgroup/memory", v1[2]), limitFile: "memory.limit_in_bytes" };
  const v2 = lines.map((l) => l.split(":")).find(([id]) => id === "0");
  if (!v2) throw new Error("no memory cgroup in /proc/self/cgroup");
  const dir = path.join("/sys/fs/cgroup", v2[2]);
  const enabled = readFileSync(path.join(dir, "cgroup.subtree_control"), "utf8").split(/\s+/);
  if (!enabled.includes("memory"))
    throw new Error(`${dir}: the memory controller is not enabled for children`);
  return { dir, limitFile: "memory.max" };
}

/** Makes a cgroup limited to `limitBytes`; throws (saying why) where none can be made. */
export function memoryCgroup(name: string, limitBytes: number): MemoryCgroup {
  const own = ownMemoryCgroup();
  const dir = path.join(own.dir, `${name}-${process.pid}`);
  mkdirSync(dir);
  try {
    writeFileSync(path.join(dir, own.limitFile), String(limitBytes));
  } catch (err) {
    rmdirSync(dir);
    throw err;
  }
  return {
    dir,
    prefix: ["sh", "-c", 'echo $$ > "$0" && exec "$@"', path.join(dir, "cgroup.procs")],
    close: () => rmdirSync(dir),
  };
}
