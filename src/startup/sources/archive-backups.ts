// Backups of a running primary, by the spec's policy, so that a restore replays a bounded amount
// of WAL: a full backup when the stanza has none (the first start of a stanza) or the last full
// one is older than `full_interval_seconds`; otherwise an incremental (or differential) one when
// the last backup is older than `interval_seconds` or more than `wal_bytes` of WAL were written
// since it. One backup at a time, in the background; retention is pgBackRest's (repo1-retention-*,
// applied by the expire that follows every backup).
import type { Logger } from "pino";
import { parseLsn } from "../../postgres/lsn.js";
import type { ArchiveSourceJson } from "../../spec/types.js";
import type { PgbackrestRunner, StanzaBackup } from "./archive-pgbackrest.js";

export type BackupType = "full" | "diff" | "incr";

export interface BackupDecision {
  readonly type: BackupType;
  readonly reason: string;
}

/** Which backup is due now, if any (pure). `now` in seconds since the epoch. */
export function dueBackup(
  policy: ArchiveSourceJson["backup"],
  backups: readonly StanzaBackup[],
  now: number,
  currentLsn: bigint | null,
): BackupDecision | null {
  const good = backups.filter((b) => !b.error);
  const lastFull = good.filter((b) => b.type === "full").at(-1);
  if (!lastFull) return { type: "full", reason: "the stanza has no full backup" };
  if (now - lastFull.stopTime >= policy.full_interval_seconds) {
    return { type: "full", reason: `the last full backup is older than ${policy.full_interval_seconds} s` };
  }
  const last = good.at(-1) as StanzaBackup;
  if (now - last.stopTime >= policy.interval_seconds) {
    return { type: policy.type, reason: `the last backup is older than ${policy.interval_seconds} s` };
  }
  if (currentLsn !== null && currentLsn - parseLsn(last.stopLsn) >= BigInt(policy.wal_bytes)) {
    return { type: policy.type, reason: `more than ${policy.wal_bytes} bytes of WAL since the last backup` };
  }
  return null;
}

export interface BackupEvents {
  started(type: BackupType): void;
  finished(type: BackupType, ok: boolean, ms: number): void;
}

export interface BackupScheduler {
  /** True while a backup runs. */
  readonly running: boolean;
  /** Settles when the stanza's first backup (if one is running) is done; a stop waits for it too. */
  firstBackup(): Promise<void>;
  readonly lastError: string | null;
  stop(): Promise<void>;
}

/**
 * Checks the policy now and every `checkMs`; runs a due backup (in the background, killed by
 * stop()). `currentLsn` reads pg_current_wal_lsn().
 */
export function startBackupScheduler(opts: {
  runner: PgbackrestRunner;
  policy: ArchiveSourceJson["backup"];
  currentLsn(): Promise<bigint | null>;
  log: Logger;
  events?: BackupEvents;
  checkMs?: number;
}): BackupScheduler {
  const abort = new AbortController();
  const checkMs = opts.checkMs ?? Math.min(30_000, Math.max(1000, (opts.policy.interval_seconds * 1000) / 4));
  let running = false;
  let backupRunning = false;
  let lastError: string | null = null;
  let timer: NodeJS.Timeout | null = null;
  let current: Promise<void> = Promise.resolve();
  // The first full backup of a new stanza is what makes it restorable: a stop waits for it
  // rather than killing it (an immediate stop kills Postgres under it anyway).
  let first: Promise<void> | null = null;

  const check = async () => {
    if (abort.signal.aborted || running) return;
    running = true;
    try {
      const info = await opts.runner.info(abort.signal);
      if (info.backupRunning) return;
      const decision = dueBackup(opts.policy, info.backups, Date.now() / 1000, await opts.currentLsn());
      if (!decision) return;
      opts.log.info({ type: decision.type, reason: decision.reason }, "backup started");
      opts.events?.started(decision.type);
      const t0 = performance.now();
      const isFirst = info.backups.length === 0;
      backupRunning = true;
      try {
        const run = opts.runner.run("backup", [`--type=${decision.type}`, "--log-level-console=warn"], {
          signal: isFirst ? undefined : abort.signal,
        });
        if (isFirst)
          first = run.then(
            () => {},
            () => {},
          );
        await run;
        const ms = Math.round(performance.now() - t0);
        lastError = null;
        opts.events?.finished(decision.type, true, ms);
        opts.log.info({ type: decision.type, duration_ms: ms }, "backup done");
      } catch (err) {
        if (abort.signal.aborted && !isFirst) return;
        lastError = (err as Error).message;
        opts.events?.finished(decision.type, false, Math.round(performance.now() - t0));
        opts.log.error({ type: decision.type, error: lastError }, "backup failed");
      }
    } catch (err) {
      if (!abort.signal.aborted)
        opts.log.warn({ error: (err as Error).message }, "backup policy check failed");
    } finally {
      running = false;
      backupRunning = false;
    }
  };
  const schedule = () => {
    if (abort.signal.aborted) return;
    timer = setTimeout(() => {
      current = check().finally(schedule);
    }, checkMs);
    timer.unref();
  };
  current = check().finally(schedule);
  return {
    get running() {
      return backupRunning;
    },
    get lastError() {
      return lastError;
    },
    firstBackup() {
      return first ?? Promise.resolve();
    },
    async stop() {
      abort.abort(new Error("compute stopping"));
      await first;
      if (timer) clearTimeout(timer);
      await current.catch(() => {});
    },
  };
}
