// The real agent (bin/compute_ctl, the compiled build) as benchmarks run it: spawned with its
// data directory on tmpfs and free ports, every log line timestamped on arrival so a benchmark
// can measure "exec -> event" without polling the API (polling would add load and latency).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { AGENT_BIN } from "../../test/support/agent.js";
import { freePort } from "../../test/support/ports.js";

/** The agent under test: bin/compute_ctl, or another build named by COMPUTE_CTL_BIN. */
export function agentBin(): string {
  return process.env.COMPUTE_CTL_BIN || AGENT_BIN;
}

export interface LogLine {
  /** ms since the agent was spawned. */
  at: number;
  entry: Record<string, unknown>;
}

export interface AgentProcess {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly grpcPort: number;
  readonly grpcSocket: string;
  readonly pgPort: number;
  readonly pgdata: string;
  /** performance.now() just before spawn. */
  readonly spawnedAt: number;
  readonly lines: LogLine[];
  /** Resolves with the first log line (past or future) matching `match`. */
  waitForLog(match: (entry: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** ms from spawn until the compute reached `running` (from the state-change log line). */
  waitRunning(timeoutMs?: number): Promise<number>;
  metrics(): Promise<Record<string, number>>;
  /**
   * From now on the agent's log is read and dropped, not parsed and kept (as a log collector
   * reads it): for load benchmarks, where the agent logs every request.
   */
  discardLogs(): void;
  /** SIGTERM (the agent stops Postgres fast), wait for exit, remove the data directory. */
  stop(): Promise<void>;
}

export interface SpawnAgentOptions {
  /** Directory for pgdata, spec file and sockets (removed by the caller). */
  root: string;
  spec?: unknown;
  args?: readonly string[];
  pgPort?: number;
  /** Extra environment variables (e.g. NODE_OPTIONS). */
  env?: Record<string, string>;
  /**
   * A command that execs its arguments (the agent's command line) in the same process, e.g. to
   * enter a cgroup first (memory-cgroup.ts): the pid stays the agent's.
   */
  prefix?: readonly string[];
}

export async function spawnAgent(opts: SpawnAgentOptions): Promise<AgentProcess> {
  const pgdata = path.join(opts.root, "pgdata");
  const [port, internalPort, grpcPort] = [await freePort(), await freePort(), await freePort()];
  const pgPort = opts.pgPort ?? (await freePort());
  // The agent refuses a socket directory owned by another user (opts.root is the Postgres user's).
  const socketDir = mkdtempSync(path.join(os.tmpdir(), "ccb-sock-"));
  const args = [
    "-D",
    pgdata,
    "-C",
    `postgresql://postgres@127.0.0.1:${pgPort}/postgres`,
    "--http-host",
    "127.0.0.1",
    "--external-http-port",
    String(port),
    "--internal-http-port",
    String(internalPort),
    "--grpc-port",
    String(grpcPort),
    "--grpc-socket",
    path.join(socketDir, "grpc.sock"),
    "--exit-grace-s",
    "0",
  ];
  if (opts.spec !== undefined) {
    const file = path.join(opts.root, "spec.json");
    writeFileSync(file, JSON.stringify(opts.spec));
    args.push("-S", file);
  }
  args.push(...(opts.args ?? []));
  const spawnedAt = performance.now();
  const [command, ...argv] = [...(opts.prefix ?? []), agentBin(), ...args];
  const proc = spawn(command, argv, {
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let buf = "";
  let discard = false;
  proc.stderr?.on("data", (d: Buffer) => {
    if (discard) return;
    const at = performance.now() - spawnedAt;
    buf += d.toString();
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      nl = buf.indexOf("\n");
      if (!line.startsWith("{")) continue;
      try {
        lines.push({ at, entry: JSON.parse(line) });
      } catch {
        // not a log entry
      }
    }
    for (const w of waiters) w();
  });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  let gone = false;
  void exited.then(() => {
    gone = true;
    for (const w of waiters) w();
  });

  const agent: AgentProcess = {
    proc,
    port,
    grpcPort,
    grpcSocket: path.join(socketDir, "grpc.sock"),
    pgPort,
    pgdata,
    spawnedAt,
    lines,
    waitForLog(match, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = lines.find((l) => match(l.entry));
          if (hit) done(() => resolve(hit));
          else if (gone)
            done(() => reject(new Error(`agent exited before the expected log line:\n${tail()}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`timed out waiting for a log line:\n${tail()}`))),
          timeoutMs,
        );
        const done = (fn: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        waiters.add(check);
        check();
      });
    },
    async waitRunning(timeoutMs) {
      const line = await agent.waitForLog((e) => e.to === "running" || e.to === "failed", timeoutMs);
      if (line.entry.to !== "running") throw new Error(`compute failed: ${JSON.stringify(line.entry)}`);
      return line.at;
    },
    discardLogs() {
      discard = true;
      buf = "";
    },
    async metrics() {
      return (await (await fetch(`http://127.0.0.1:${port}/metrics.json`)).json()) as Record<string, number>;
    },
    async stop() {
      if (!gone) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(pgdata, { recursive: true, force: true });
      rmSync(socketDir, { recursive: true, force: true });
    },
  };
  const tail = () =>
    lines
      .slice(-15)
      .map((l) => JSON.stringify(l.entry))
      .join("\n");
  return agent;
}
