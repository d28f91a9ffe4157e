// GET /info: what this compute has to work with - CPUs and memory as the container limits them
// (cgroup v2 cpu.max / memory.max when set, else the host's), the Postgres version of the
// binaries in use, the agent's version and how long the agent has been up. No SQL: it answers
// whatever state Postgres is in.
import { readFileSync } from "node:fs";
import os from "node:os";
import { agentVersion } from "../cli/install-root.js";
import { type PgBinaries, type PgBinariesSource, postgresVersion } from "../postgres/binaries.js";

export interface ComputeInfo {
  num_cpus: number;
  memory_bytes: number;
  /** e.g. "15.14" (from `postgres --version`). */
  pg_version: string;
  /** The `postgres` binary in use, and where it was found (--pgbin, POSTGRES_PATH, PATH, system, npm). */
  pg_binary: string;
  pg_binaries_source: PgBinariesSource;
  agent_version: string;
  /** Seconds since the agent process started. */
  uptime_s: number;
}

function readCgroupFile(name: string): string | null {
  try {
    return readFileSync(`/sys/fs/cgroup/${name}`, "utf8").trim();
  } catch {
    return null;
  }
}

/** CPUs usable by this process: affinity, capped by a cgroup v2 CPU quota ("200000 100000" = 2). */
export function cpuCount(cpuMax = readCgroupFile("cpu.max")): number {
  const cpus = os.availableParallelism();
  const [quota, period] = (cpuMax ?? "max").split(/\s+/);
  if (quota === "max" || !period) return cpus;
  const limit = Math.ceil(Number(quota) / Number(period));
  return Number.isFinite(limit) && limit > 0 ? Math.min(cpus, limit) : cpus;
}

/** Memory usable by this process: the host's, capped by a cgroup v2 limit. */
export function memoryBytes(memoryMax = readCgroupFile("memory.max")): number {
  const total = os.totalmem();
  const limit = Number(memoryMax);
  return memoryMax && memoryMax !== "max" && Number.isFinite(limit) && limit > 0
    ? Math.min(total, limit)
    : total;
}

export async function computeInfo(pg: PgBinaries, processStart: Date): Promise<ComputeInfo> {
  return {
    num_cpus: cpuCount(),
    memory_bytes: memoryBytes(),
    pg_version: await postgresVersion(pg),
    pg_binary: pg.postgres,
    pg_binaries_source: pg.source,
    agent_version: agentVersion(),
    uptime_s: Math.max(0, Math.round((Date.now() - processStart.getTime()) / 100) / 10),
  };
}
