// Runs the metrics exporter as a child process of the agent: started once the compute is running,
// restarted with exponential backoff when it dies, stopped with Postgres. Nothing here throws
// into the agent: a failing exporter is logged and retried, and only /autoscaling_metrics notices.
// The child runs as the Postgres OS user when given (so the socket in PGDATA belongs to the
// owner of PGDATA, mode 0600), gets the connection string through its environment (argv is
// world-readable in /proc), and has an IPC channel so it exits when the agent goes away.
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { CONNSTR_ENV } from "../exporter/exporter-flags.js";
import { exporterSocketPath } from "../exporter/socket-address.js";
import type { OsUser } from "../postgres/os-user.js";

export interface StartExporterOptions {
  pgdata: string;
  connstr: string;
  log: Logger;
  /** Run the exporter as this OS user (the Postgres user when the agent is root); null: as us. */
  runAs?: OsUser | null;
  /** Extra exporter flags, e.g. `["--ttl-ms", "500"]`. */
  args?: string[];
  /** Where the working-set estimator survives exporter restarts; default in PGDATA; null: nowhere. */
  stateFile?: string | null;
  restart?: { minMs?: number; maxMs?: number; resetAfterMs?: number };
  /** The exporter entry; default the exporter's `main.js` (`main.ts` when running from source). */
  entry?: string;
}

export interface ExporterHandle {
  socketPath: string;
  /** The current child's pid, undefined while none runs. */
  readonly pid: number | undefined;
  /** How many times the exporter was started again after dying. */
  readonly restarts: number;
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 3000;
export const STATE_FILE_NAME = "compute_ctl_exporter.hll";

function defaultEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const dir = path.dirname(here);
  // In the bundle (bin/build-bundle.mjs) this code sits in dist/chunks/ and the exporter's
  // entry is dist/exporter/main.js; from source or tsc output it is ../exporter/main.(ts|js).
  if (path.basename(dir) === "chunks") return path.join(dir, "..", "exporter", "main.js");
  return path.join(dir, "..", "exporter", `main${path.extname(here)}`);
}

/** Node flags worth passing on (loaders such as tsx); test-runner and debugger flags are not. */
function inheritedExecArgv(): string[] {
  return process.execArgv.filter((a) => !/^--(test|inspect|watch|debug)/.test(a));
}

/**
 * Inside the data directory: only the compute's OS user may write there (mode 0700), it belongs
 * to this compute alone, and it goes with the compute (never piling up in a shared /tmp).
 */
export function defaultStateFile(pgdata: string): string {
  return path.join(path.resolve(pgdata), STATE_FILE_NAME);
}

const LEVELS: Record<number, "trace" | "debug" | "info" | "warn" | "error" | "fatal"> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

/** Re-logs the child's pino lines through the agent's logger (plain lines as warnings). */
function relay(child: ChildProcess, log: Logger): void {
  if (!child.stderr) return;
  createInterface({ input: child.stderr }).on("line", (line) => {
    try {
      const {
        level,
        msg,
        time: _t,
        pid: _p,
        hostname: _h,
        component: _c,
        ...rest
      } = JSON.parse(line) as Record<string, unknown>;
      log[LEVELS[Number(level)] ?? "info"](rest, String(msg ?? ""));
    } catch {
      if (line.trim()) log.warn({ line }, "exporter output");
    }
  });
}

/**
 * What the exporter gets of our environment: the basics and its connection string. Nothing else
 * of the agent's environment (tokens, say) reaches a process running as another user.
 */
function childEnv(connstr: string, runAs: OsUser | null): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { [CONNSTR_ENV]: connstr };
  for (const k of ["PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "NODE_ENV", "LOG_LEVEL"]) {
    if (process.env[k] !== undefined) env[k] = process.env[k];
  }
  env.HOME = runAs?.home ?? process.env.HOME;
  return env;
}

export function startExporter(opts: StartExporterOptions): ExporterHandle {
  const log = opts.log.child({ component: "exporter-supervisor" });
  const childLog = opts.log.child({ component: "exporter" });
  const entry = opts.entry ?? defaultEntry();
  const stateFile = opts.stateFile === undefined ? defaultStateFile(opts.pgdata) : opts.stateFile;
  const minMs = opts.restart?.minMs ?? 100;
  const maxMs = opts.restart?.maxMs ?? 30_000;
  const resetAfterMs = opts.restart?.resetAfterMs ?? 60_000;
  const args = [
    // A TypeScript entry needs the loader we run under (tsx); compiled JS starts faster without it.
    ...(entry.endsWith(".ts") ? inheritedExecArgv() : []),
    // The heap is small and idle memory matters more than GC throughput: a small young
    // generation and no parallel GC threads keep the process's RSS down (bench: agent start).
    "--max-semi-space-size=2",
    "--single-threaded-gc",
    entry,
    "--pgdata",
    path.resolve(opts.pgdata),
    ...(stateFile ? ["--state-file", stateFile] : []),
    ...(opts.args ?? []),
  ];

  let child: ChildProcess | null = null;
  let stopped = false;
  let restarts = 0;
  let backoffMs = minMs;
  let timer: NodeJS.Timeout | null = null;

  const launch = () => {
    timer = null;
    if (stopped) return;
    const startedAt = Date.now();
    let proc: ChildProcess;
    try {
      proc = spawn(process.execPath, args, {
        env: childEnv(opts.connstr, opts.runAs ?? null),
        stdio: ["ignore", "ignore", "pipe", "ipc"],
        ...(opts.runAs ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
      });
    } catch (err) {
      const restartInMs = scheduleRestart(startedAt);
      log.error({ err, restartInMs }, "cannot start the metrics exporter");
      return;
    }
    child = proc;
    relay(proc, childLog);
    // An IPC or spawn error must not become an uncaught exception in the agent.
    proc.on("error", (err) => log.warn({ err }, "metrics exporter process error"));
    proc.once("exit", (code, signal) => {
      if (child === proc) child = null;
      if (stopped) return;
      const restartInMs = scheduleRestart(startedAt);
      log.warn({ code, signal, restartInMs }, "metrics exporter exited; restarting");
    });
  };

  /** Schedules the next start after the current back-off; returns that delay. */
  const scheduleRestart = (startedAt: number): number => {
    if (Date.now() - startedAt >= resetAfterMs) backoffMs = minMs;
    const delay = backoffMs;
    backoffMs = Math.min(backoffMs * 2, maxMs);
    restarts++;
    timer = setTimeout(launch, delay);
    timer.unref();
    return delay;
  };

  launch();

  return {
    socketPath: exporterSocketPath(opts.pgdata),
    get pid() {
      return child?.pid;
    },
    get restarts() {
      return restarts;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => proc.once("exit", () => r()));
      proc.kill("SIGTERM");
      const kill = setTimeout(() => proc.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(kill);
    },
  };
}
