// Runs the metrics exporter (src/exporter/) as a worker thread of the agent: started once the
// compute is running, restarted with exponential back-off when it exits (a crash, an uncaught
// error, its heap limit) or stops answering (a blocked event loop: the watchdog terminates it),
// stopped with Postgres. A thread has its own event loop and heap, so a hung or crashing exporter
// never blocks the agent's loop and its memory is capped by `resourceLimits`; it costs the agent
// a fraction of a second Node process (bench: agent start, idle footprint). Nothing here throws
// into the agent: a failing exporter is logged and retried, and only its readers notice.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type ResourceLimits, Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { exporterSocketPath } from "../exporter/data-dir-socket.js";
import type { ExporterSettings, ExporterTimings } from "../exporter/exporter-config.js";
import type { ExporterMessage, ExporterReply, HostMessage, ReadWhat } from "../exporter/thread-protocol.js";

export interface StartExporterOptions {
  pgdata: string;
  connstr: string;
  log: Logger;
  /** Owner of the socket (the Postgres OS user when the agent is root); null: the agent's user. */
  socketOwner?: { uid: number; gid: number } | null;
  /** Timings of the exporter (TTL, deadlines, sampling); defaults in exporter-config.ts. */
  timings?: Partial<ExporterTimings>;
  /** Where the working-set estimator survives exporter restarts; default in PGDATA; null: nowhere. */
  stateFile?: string | null;
  restart?: { minMs?: number; maxMs?: number; resetAfterMs?: number };
  /** A ping every `intervalMs`; one unanswered for `timeoutMs` means the thread is hung. */
  watchdog?: { intervalMs?: number; timeoutMs?: number };
  /** Heap limits of the thread (reaching them ends the thread, not the agent). */
  resourceLimits?: ResourceLimits;
  /** The thread's entry; default the exporter's `main.js` (`main.ts` when running from source). */
  entry?: string;
  /** Serve the test hooks on the socket (exporter-server.ts); default: COMPUTE_CTL_EXPORTER_TEST_HOOKS=1. */
  testHooks?: boolean;
  /** Data for a stand-in entry (tests); the real one gets its settings. */
  workerData?: unknown;
}

export class ExporterUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExporterUnreachableError";
  }
}

export interface ExporterHandle {
  socketPath: string;
  /** One of the exporter's answers; rejects (ExporterUnreachableError) at once when no thread runs. */
  read(what: ReadWhat, timeoutMs: number): Promise<ExporterReply>;
  /** Counts the threads started: an answer is current only while its thread still runs. */
  readonly generation: number;
  /** A thread runs now. */
  readonly running: boolean;
  /** How many times the exporter was started again after it ended or hung. */
  readonly restarts: number;
  /** The current thread's id, undefined while none runs. */
  readonly threadId: number | undefined;
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 3000;
export const STATE_FILE_NAME = "compute_ctl_exporter.hll";

/**
 * The exporter's heap is small and bounded: ~10 MB live. Its limits keep a leak from growing
 * without end, and a small young generation keeps the resident memory of the idle thread down.
 */
export const DEFAULT_RESOURCE_LIMITS: ResourceLimits = {
  maxOldGenerationSizeMb: 64,
  maxYoungGenerationSizeMb: 4,
  stackSizeMb: 4,
};

function defaultEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const dir = path.dirname(here);
  // In the bundle (bin/build-bundle.mjs) this code sits in dist/chunks/ and the exporter's
  // entry is dist/exporter/main.js; from source it is src/exporter/main.ts.
  if (path.basename(dir) === "chunks") return path.join(dir, "..", "exporter", "main.js");
  return path.join(dir, "..", "exporter", `main${path.extname(here)}`);
}

/**
 * tsx (a devDependency) loads a TypeScript entry: only when running from source (tests), never in
 * the bundle, whose entry is JavaScript. Named here, not written into an import, so that neither
 * the bundler nor the production-dependency check takes it for a runtime import.
 */
const TS_LOADER = "tsx/esm/api";

/** A TypeScript entry (tests from source) is loaded through tsx, registered inside the thread. */
function newWorker(entry: string, options: ConstructorParameters<typeof Worker>[1]): Worker {
  if (!entry.endsWith(".ts")) return new Worker(entry, options);
  const url = JSON.stringify(new URL(`file://${entry}`).href);
  const boot = `import(${JSON.stringify(TS_LOADER)}).then((tsx) => { tsx.register(); return import(${url}); })`;
  return new Worker(boot, { ...options, eval: true });
}

/**
 * Inside the data directory: only the compute's OS user may write there (mode 0700), it belongs
 * to this compute alone, and it goes with the compute (never piling up in a shared /tmp).
 */
export function defaultStateFile(pgdata: string): string {
  return path.join(path.resolve(pgdata), STATE_FILE_NAME);
}

/** What the thread gets of our environment: the basics, nothing else (tokens, say). */
function threadEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of ["PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "HOME", "NODE_ENV"]) {
    if (process.env[k] !== undefined) env[k] = process.env[k];
  }
  return env;
}

interface Pending {
  resolve(r: ExporterReply): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export function startExporter(opts: StartExporterOptions): ExporterHandle {
  const log = opts.log.child({ component: "exporter-supervisor" });
  const threadLog = opts.log.child({ component: "exporter" });
  const entry = opts.entry ?? defaultEntry();
  const minMs = opts.restart?.minMs ?? 100;
  const maxMs = opts.restart?.maxMs ?? 30_000;
  const resetAfterMs = opts.restart?.resetAfterMs ?? 60_000;
  const pingMs = opts.watchdog?.intervalMs ?? 5000;
  const hungAfterMs = opts.watchdog?.timeoutMs ?? 15_000;
  const settings: ExporterSettings = {
    pgdata: path.resolve(opts.pgdata),
    connstr: opts.connstr,
    stateFile: opts.stateFile === undefined ? defaultStateFile(opts.pgdata) : opts.stateFile,
    socketOwner: opts.socketOwner ?? null,
    logLevel: opts.log.level,
    testHooks: opts.testHooks ?? process.env.COMPUTE_CTL_EXPORTER_TEST_HOOKS === "1",
    ...opts.timings,
  };

  let worker: Worker | null = null;
  let generation = 0;
  let stopped = false;
  let restarts = 0;
  let backoffMs = minMs;
  let restartTimer: NodeJS.Timeout | null = null;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  /** The oldest ping not answered yet: when it was sent. */
  let unansweredSince: number | null = null;

  const failPending = (why: string) => {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      pending.delete(id);
      p.reject(new ExporterUnreachableError(why));
    }
  };

  const onMessage = (m: ExporterMessage) => {
    if (m.kind === "pong") unansweredSince = null;
    else if (m.kind === "reply") {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      clearTimeout(p.timer);
      p.resolve(m.reply);
    } else if (m.kind === "log") threadLog[m.level](m.fields, m.msg);
  };

  const launch = () => {
    restartTimer = null;
    if (stopped) return;
    const startedAt = Date.now();
    let w: Worker;
    try {
      w = newWorker(entry, {
        workerData: opts.workerData ?? settings,
        env: threadEnv(),
        resourceLimits: opts.resourceLimits ?? DEFAULT_RESOURCE_LIMITS,
        // The agent's exit never waits for the exporter.
        stdout: false,
        stderr: false,
      });
    } catch (err) {
      const restartInMs = scheduleRestart(startedAt);
      log.error({ err, restartInMs }, "cannot start the metrics exporter");
      return;
    }
    w.unref();
    worker = w;
    generation++;
    unansweredSince = null;
    w.on("message", onMessage);
    w.on("error", (err) => log.error({ err }, "metrics exporter failed"));
    w.once("exit", (code) => {
      if (worker === w) worker = null;
      generation++;
      failPending(`the metrics exporter exited (code ${code})`);
      if (stopped) return;
      const restartInMs = scheduleRestart(startedAt);
      log.warn({ code, restartInMs }, "metrics exporter exited; restarting");
    });
  };

  /** Schedules the next start after the current back-off; returns that delay. */
  const scheduleRestart = (startedAt: number): number => {
    if (Date.now() - startedAt >= resetAfterMs) backoffMs = minMs;
    const delay = backoffMs;
    backoffMs = Math.min(backoffMs * 2, maxMs);
    restarts++;
    restartTimer = setTimeout(launch, delay);
    restartTimer.unref();
    return delay;
  };

  // The watchdog: a thread whose event loop does not answer a ping for `hungAfterMs` is ended,
  // and the exit above restarts it with the back-off.
  const watchdog = setInterval(() => {
    const w = worker;
    if (!w) return;
    const now = Date.now();
    if (unansweredSince !== null && now - unansweredSince >= hungAfterMs) {
      log.error({ unansweredMs: now - unansweredSince }, "metrics exporter does not answer; ending it");
      unansweredSince = null;
      void w.terminate();
      return;
    }
    unansweredSince ??= now;
    const ping: HostMessage = { kind: "ping", id: nextId++ };
    w.postMessage(ping);
  }, pingMs);
  watchdog.unref();

  launch();

  return {
    socketPath: exporterSocketPath(opts.pgdata),
    read(what, timeoutMs) {
      const w = worker;
      if (!w) {
        return Promise.reject(
          new ExporterUnreachableError(
            stopped ? "the metrics exporter is stopped" : "the metrics exporter is not running (restarting)",
          ),
        );
      }
      return new Promise((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new ExporterUnreachableError(`the metrics exporter did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        const m: HostMessage = { kind: "read", id, what };
        w.postMessage(m);
      });
    },
    get generation() {
      return generation;
    },
    get running() {
      return worker !== null;
    },
    get restarts() {
      return restarts;
    },
    get threadId() {
      return worker?.threadId;
    },
    async stop() {
      stopped = true;
      clearInterval(watchdog);
      if (restartTimer) clearTimeout(restartTimer);
      restartTimer = null;
      const w = worker;
      if (!w) return;
      const exited = new Promise<void>((r) => w.once("exit", () => r()));
      const stop: HostMessage = { kind: "stop" };
      w.postMessage(stop);
      const kill = setTimeout(() => void w.terminate(), STOP_GRACE_MS);
      await exited;
      clearTimeout(kill);
    },
  };
}
