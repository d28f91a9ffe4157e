// The `primary` data source: a base backup of a running vanilla Postgres, taken over the
// replication protocol by `pg_basebackup` (it streams straight to disk, WAL included, so the
// agent's memory stays flat whatever the database size). In Replica mode the copy becomes a
// streaming hot standby of its source; in Primary mode an independent, writable fork. Its
// `--progress` lines (once a second: kB done of the server's estimate) feed the compute's
// progress report.
import { performance } from "node:perf_hooks";
import { execa } from "execa";
import { clientTool, MissingToolError } from "../../postgres/binaries.js";
import { asUser } from "../../postgres/os-user.js";
import { quoteConfValue } from "../../postgres/quote.js";
import type { ProgressReporter } from "../../state/progress.js";
import { dirBytes, emptyDir, writeStandbySignal } from "./basebackup-pgdata.js";
import { basebackupRetryPolicy, PermanentError, type RetryPolicy, withRetries } from "./basebackup-retry.js";
import { redactConnstr, splitPassword } from "./primary-connstring.js";
import { dropInheritedRecoverySettings, dropInheritedSignalFiles } from "./primary-inherited-settings.js";
import type { SourceContext, SourceDriver, SourceResult } from "./source-driver.js";

export interface PrimaryBasebackupOptions {
  /** Retries on connection errors; default 10 retries, 500 ms x1.5. */
  readonly retryPolicy?: RetryPolicy;
}

// Checked first: these mention a failed connection too, but waiting will not fix them.
const PERMANENT = [
  /password authentication failed/i,
  /authentication failed/i,
  /no pg_hba\.conf entry/i,
  /does not exist/i,
  /must be superuser or (have|a member)|permission denied|must have the replication/i,
  /exists but is not empty/i,
  /incompatible server version/i,
];

const TRANSIENT = [
  /could not connect/i,
  /connection to server .* failed/i,
  /server closed the connection unexpectedly/i,
  /could not (receive|send|read)/i,
  /unexpected termination of replication stream/i,
  /the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)/i,
  /terminating connection/i,
  /too many clients|remaining connection slots/i,
  /timeout expired|timed out|connection reset|network is unreachable|no route to host/i,
  /could not translate host name/i,
];

const SLOT_EXISTS = /replication slot ".*" already exists/i;

function lastLines(text: string, n = 5): string {
  return text.trim().split("\n").slice(-n).join(" | ");
}

function isTransient(stderr: string): boolean {
  if (PERMANENT.some((re) => re.test(stderr))) return false;
  return TRANSIENT.some((re) => re.test(stderr));
}

class SlotExistsError extends Error {}

// `  12345/67890 kB (18%), 0/1 tablespace (...)`: pg_basebackup --progress on a non-terminal.
const PROGRESS_LINE = /^\s*(\d+)\/(\d+) kB \(>?\d+%\), (\d+)\/(\d+) tablespaces?/;

/** Bytes done and the estimated total from one line of pg_basebackup --progress, or null. */
export function parseBasebackupProgress(line: string): { bytesDone: number; bytesTotal: number } | null {
  const m = PROGRESS_LINE.exec(line);
  if (!m) return null;
  const done = Number(m[1]) * 1024;
  // pg_basebackup raises its estimate when the copy outgrows it; keep done <= total anyway.
  return { bytesDone: done, bytesTotal: Math.max(Number(m[2]) * 1024, done) };
}

async function runPgBasebackup(
  ctx: SourceContext,
  createSlot: boolean,
  progress: ProgressReporter,
): Promise<{ endLsn: string | null }> {
  const source = ctx.spec.source;
  if (source.kind !== "primary") throw new Error(`primary source used with a ${source.kind} spec`);
  const { withoutPassword, password } = splitPassword(source.connstring);
  const args = [
    "-D",
    ctx.pgdata,
    "-d",
    withoutPassword,
    "-X",
    "stream",
    "-c",
    "fast",
    "--no-sync",
    "-w",
    "-v",
    // The server estimates the size first (a walk of its data directory, no reads).
    "-P",
  ];
  const slot = ctx.spec.mode.kind === "replica" ? source.slotName : null;
  if (slot) args.push("-S", slot, ...(createSlot ? ["-C"] : []));
  const env: Record<string, string> = { PGAPPNAME: "compute_ctl:basebackup", PGCONNECT_TIMEOUT: "10" };
  if (password !== null) env.PGPASSWORD = password;
  let tool: string;
  try {
    tool = await clientTool(ctx.pg, "pg_basebackup");
  } catch (err) {
    // No retry helps: the tool will not appear by itself.
    if (err instanceof MissingToolError) throw new PermanentError(err.message);
    throw err;
  }
  const r = await execa(tool, args, {
    ...asUser(ctx.osUser),
    env,
    stdin: "ignore",
    stdout: "ignore",
    stderr: [
      function* (line: unknown) {
        const p = parseBasebackupProgress(String(line));
        if (p) progress.update(p);
        yield line;
      },
    ],
    reject: false,
    cancelSignal: ctx.signal,
  });
  const stderr = String(r.stderr ?? "");
  if (r.exitCode === 0) {
    const m = /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/i.exec(stderr);
    return { endLsn: m ? m[1].toUpperCase() : null };
  }
  if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error("aborted");
  if (slot && createSlot && SLOT_EXISTS.test(stderr)) throw new SlotExistsError(lastLines(stderr));
  const msg = `pg_basebackup exited with ${r.exitCode ?? r.signal}: ${lastLines(stderr)}`;
  throw isTransient(stderr) ? new Error(msg) : new PermanentError(msg);
}

function replicaConfLines(ctx: SourceContext): string[] {
  const source = ctx.spec.source;
  if (source.kind !== "primary") return [];
  const lines = [`primary_conninfo = ${quoteConfValue(source.connstring)}`, "hot_standby = on"];
  if (source.slotName) lines.push(`primary_slot_name = ${quoteConfValue(source.slotName)}`);
  return lines;
}

async function prepare(ctx: SourceContext, policy: RetryPolicy): Promise<SourceResult> {
  const source = ctx.spec.source;
  if (source.kind !== "primary") throw new Error(`primary source used with a ${source.kind} spec`);
  const mode = ctx.spec.mode.kind;
  if (mode === "static") {
    // parseSpec rejects this combination; guard anyway so a hand-built spec cannot slip through.
    throw new PermanentError("mode Static cannot be served by a fresh base backup of a primary");
  }
  const from = redactConnstr(source.connstring);
  ctx.log.info({ primary: from, mode, slot: source.slotName }, "fetching base backup from primary");
  const started = performance.now();
  // The slot is created once (-C); when it already exists (a restart, or an attempt that failed
  // after creating it) it is reused.
  let createSlot = true;
  let endLsn: string | null;
  const progress = ctx.progress("basebackup");
  try {
    ({ endLsn } = await withRetries(
      {
        what: `base backup from ${from}`,
        policy,
        log: ctx.log,
        signal: ctx.signal,
        beforeRetry: () => emptyDir(ctx.pgdata),
      },
      async () => {
        // A retry starts the copy over.
        progress.update({ bytesDone: 0 });
        try {
          return await runPgBasebackup(ctx, createSlot, progress);
        } catch (err) {
          if (!(err instanceof SlotExistsError)) throw err;
          ctx.log.info({ slot: source.slotName }, "replication slot exists, reusing it");
          createSlot = false;
          await emptyDir(ctx.pgdata);
          return await runPgBasebackup(ctx, false, progress);
        }
      },
    ));
  } catch (err) {
    // Never leave a half-written cluster behind for someone to start.
    await emptyDir(ctx.pgdata).catch(() => {});
    throw err;
  } finally {
    progress.end();
  }
  ctx.record("basebackup_ms", Math.round(performance.now() - started));
  ctx.record("basebackup_bytes", await dirBytes(ctx.pgdata));

  const dropped = await dropInheritedRecoverySettings(ctx.pgdata);
  if (dropped.length) ctx.log.info({ dropped }, "removed recovery settings inherited from the source");
  await dropInheritedSignalFiles(ctx.pgdata);
  if (mode === "primary") {
    ctx.log.info({ lsn: endLsn }, "base backup ready as an independent primary");
    return { lsn: endLsn, confLines: [] };
  }
  await writeStandbySignal(ctx.pgdata, ctx.osUser);
  ctx.log.info({ lsn: endLsn, primary: from }, "base backup ready as a streaming replica");
  return { lsn: endLsn, confLines: replicaConfLines(ctx) };
}

export function primaryBasebackupSource(opts: PrimaryBasebackupOptions = {}): SourceDriver {
  const policy = opts.retryPolicy ?? basebackupRetryPolicy;
  return { name: "primary-basebackup", prepare: (ctx) => prepare(ctx, policy) };
}
