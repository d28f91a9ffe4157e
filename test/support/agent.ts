// Runs the real agent (bin/compute_ctl, the compiled build) as a child process for end-to-end
// tests, with its Postgres on a free port and its data directory in a temp dir. Every agent is
// stopped (and its Postgres with it) by `stop()`.
import { type ChildProcess, type SpawnSyncReturns, spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { freePort, freePortPair } from "./ports.js";
import { tempDir } from "./postgres.js";
import { type TlsClient, tlsFetch } from "./tls-fetch.js";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const AGENT_BIN = path.join(REPO, "bin/compute_ctl");
/** Every agent's log of a test run, so a test can grep them all for secrets. */
export const LOG_DIR = path.join(os.tmpdir(), "compute-ctl-test-logs");

export interface AgentOptions {
  spec?: unknown;
  config?: unknown;
  args?: string[];
  env?: Record<string, string>;
  /** Grace period after fast termination / failed start (default 1 s in tests). */
  graceS?: number;
  /** Keep the agent's stdout/stderr (JSON log) for assertions. */
  name?: string;
  /** Give the REST ports as Neon's `--http-port N` (external N, internal N+1). */
  neonHttpPort?: boolean;
  /** Runs the agent through another command (e.g. a mount namespace): gets bin/compute_ctl's argv. */
  launch?: (argv: string[]) => { command: string; args: string[] };
  /** The data directory (default: `pgdata` in the agent's temp dir). */
  pgdata?: string;
  /**
   * The external REST port speaks TLS (the test passes --tls-cert and --tls-key in `args`): `url`
   * is https:// and get/post/status trust this CA (and present this client certificate).
   */
  tlsClient?: TlsClient;
}

export interface RunningAgent {
  proc: ChildProcess;
  url: string;
  internalUrl: string;
  port: number;
  internalPort: number;
  grpcPort: number;
  grpcSocket: string;
  pgPort: number;
  pgdata: string;
  root: string;
  connstr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  logs(): string;
  /** Parsed JSON log lines. */
  logEntries(): Record<string, unknown>[];
  get(pathname: string, init?: RequestInit): Promise<Response>;
  post(pathname: string, body?: unknown, init?: RequestInit): Promise<Response>;
  status(): Promise<{
    status: string;
    error: string | null;
    last_active: string | null;
    [k: string]: unknown;
  }>;
  waitForStatus(
    wanted: string | string[],
    timeoutMs?: number,
  ): Promise<{ status: string; error: string | null }>;
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
    database?: string,
  ): Promise<T[]>;
  stop(): Promise<void>;
}

export function minimalSpec(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    format_version: 1.0,
    suspend_timeout_seconds: -1,
    cluster: {
      roles: [],
      databases: [],
      postgresql_conf:
        "listen_addresses = '127.0.0.1'\nfsync = off\nshared_buffers = 16MB\nmax_connections = 50",
      settings: [],
    },
    ...extra,
  };
}

export async function startAgent(opts: AgentOptions = {}): Promise<RunningAgent> {
  const root = tempDir("cca-");
  const pgdata = opts.pgdata ?? path.join(root, "pgdata");
  const [port, grpcPort, pgPort] = [
    opts.neonHttpPort ? await freePortPair() : await freePort(),
    await freePort(),
    await freePort(),
  ];
  const internalPort = opts.neonHttpPort ? port + 1 : await freePort();
  // The agent refuses a socket directory owned by someone else (root is the Postgres user's).
  const socketDir = mkdtempSync(path.join(os.tmpdir(), "ccs-"));
  const grpcSocket = path.join(socketDir, "grpc.sock");
  const connstr = `postgresql://postgres@127.0.0.1:${pgPort}/postgres`;
  const args = [
    "-D",
    pgdata,
    "-C",
    connstr,
    "--http-host",
    "127.0.0.1",
    ...(opts.neonHttpPort
      ? ["--http-port", String(port)]
      : ["--external-http-port", String(port), "--internal-http-port", String(internalPort)]),
    "--grpc-port",
    String(grpcPort),
    "--grpc-socket",
    grpcSocket,
    "--exit-grace-s",
    String(opts.graceS ?? 1),
    "--cache-dir",
    path.join(os.tmpdir(), "compute-ctl-test-cache"),
    // Never the machine's pgbouncer or local_proxy (a test's own args come later and win).
    "--pgbouncer-pid-file",
    path.join(root, "pgbouncer.pid"),
    "--local-proxy-dir",
    path.join(root, "local_proxy"),
  ];
  if (opts.spec !== undefined) {
    const file = path.join(root, "spec.json");
    writeFileSync(file, JSON.stringify(opts.spec));
    args.push("-S", file);
  }
  if (opts.config !== undefined) {
    const file = path.join(root, "config.json");
    writeFileSync(file, JSON.stringify(opts.config));
    args.push("-c", file);
  }
  args.push(...(opts.args ?? []));
  const launch = opts.launch?.([AGENT_BIN, ...args]) ?? { command: AGENT_BIN, args };
  const proc = spawn(launch.command, launch.args, {
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `${opts.name ?? "agent"}-${process.pid}-${port}.log`);
  const collect = (d: Buffer) => {
    output += d.toString();
    appendFileSync(logFile, d);
  };
  proc.stdout?.on("data", collect);
  proc.stderr?.on("data", collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const url = `${opts.tlsClient ? "https" : "http"}://127.0.0.1:${port}`;
  const internalUrl = `http://127.0.0.1:${internalPort}`;
  const external = opts.tlsClient ? tlsFetch(opts.tlsClient) : fetch;
  const fetchAt = (u: string, init?: RequestInit) => (u.startsWith(url) ? external(u, init) : fetch(u, init));

  // Wait until the HTTP port accepts requests (or the agent exits); generous for a busy machine.
  const deadline = Date.now() + 60_000;
  let up = false;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  while (!up && !gone && Date.now() < deadline) {
    try {
      await external(`${url}/healthz`);
      up = true;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const agent: RunningAgent = {
    proc,
    url,
    internalUrl,
    port,
    internalPort,
    grpcPort,
    grpcSocket,
    pgPort,
    pgdata,
    root,
    connstr,
    exited,
    logs: () => output,
    logEntries: () =>
      output
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => {
          try {
            return JSON.parse(l);
          } catch {
            return {};
          }
        }),
    get: (p, init) => external(`${url}${p}`, init),
    post: (p, body, init) =>
      fetchAt(`${p.startsWith("http") ? "" : url}${p}`, {
        method: "POST",
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
        ...init,
      }),
    async status() {
      return (await (await external(`${url}/status`)).json()) as Awaited<ReturnType<RunningAgent["status"]>>;
    },
    async waitForStatus(wanted, timeoutMs = 60_000) {
      const list = Array.isArray(wanted) ? wanted : [wanted];
      const end = Date.now() + timeoutMs;
      let last: { status: string; error: string | null } = { status: "?", error: null };
      while (Date.now() < end) {
        if (gone) break;
        try {
          last = await agent.status();
          if (list.includes(last.status)) return last;
        } catch {
          // not up yet
        }
        await new Promise((r) => setTimeout(r, 25));
      }
      // A status the agent passed through while this process was too busy to poll (a failed
      // start exits after the grace period): its log has every transition.
      const passed = agent
        .logEntries()
        .filter((e) => typeof e.to === "string" && String(e.msg).startsWith("compute status "))
        .at(-1);
      if (passed && list.includes(passed.to as string)) {
        return { ...last, status: passed.to as string, error: (passed.error as string | undefined) ?? null };
      }
      // The log's tail without the access lines of this wait's own polling, which would fill it.
      const tail = output
        .split("\n")
        .filter((l) => !(l.includes('"path":"/status"') && l.includes('"msg":"request"')))
        .join("\n")
        .slice(-6000);
      throw new Error(`agent did not reach ${list.join("|")} (last: ${JSON.stringify(last)})\n${tail}`);
    },
    async query(sql, params, database = "postgres") {
      const c = new pg.Client({ host: "127.0.0.1", port: pgPort, user: "postgres", database });
      await c.connect();
      try {
        return (await c.query(sql, params)).rows;
      } finally {
        await c.end();
      }
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(t);
      }
      killPostgresOf(pgdata);
      rmSync(root, { recursive: true, force: true });
      rmSync(socketDir, { recursive: true, force: true });
    },
  };
  return agent;
}

/** Pids of postgres processes whose command line names this data directory. */
export function postgresPidsOf(pgdata: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (cmd[0]?.endsWith("postgres") && cmd.includes(pgdata)) pids.push(Number(entry));
    } catch {
      // process gone
    }
  }
  return pids;
}

function killPostgresOf(pgdata: string): void {
  for (const pid of postgresPidsOf(pgdata)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
}

/** Pids of the direct children of `pid` (e.g. the postmaster's backends and workers). */
export { childPids } from "../../src/postgres/child-pids.js";

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** The postmaster pid from postmaster.pid. */
export function postmasterPid(pgdata: string): number {
  return Number(readFileSync(path.join(pgdata, "postmaster.pid"), "utf8").split("\n")[0]);
}

/**
 * Runs the agent binary with `-S specFile` to its exit, with an unreachable Postgres and its three
 * ports on the loopback: for launches that must be refused before any start work.
 */
export function runAgentToExit(
  root: string,
  pgdata: string,
  specFile: string,
  ports: readonly [number, number, number],
  timeoutMs: number,
): SpawnSyncReturns<string> {
  return spawnSync(
    AGENT_BIN,
    [
      ...["-D", pgdata, "-C", "postgresql://postgres@127.0.0.1:1/postgres", "-S", specFile],
      ...["--http-host", "127.0.0.1", "--external-http-port", String(ports[0])],
      ...["--internal-http-port", String(ports[1]), "--grpc-port", String(ports[2])],
      ...["--grpc-socket", path.join(root, "run", "g.sock")],
    ],
    { encoding: "utf8", timeout: timeoutMs },
  );
}
