// Watching a restored cluster's recovery through SQL (it runs as a hot standby while it
// replays): a primary is promoted only once it has replayed everything the archive holds - the
// final LSN of a clean stop, or at least the newest archived segment - and the startup process
// waits for more WAL that does not come. A repository that becomes unreachable mid-replay
// therefore stalls the start (and fails it) instead of forking the history early. A static
// compute is ready once recovery paused at its target.
import type pg from "pg";
import type { Logger } from "pino";
import { formatLsn, parseLsn } from "../../postgres/lsn.js";
import type { ProgressReporter } from "../../state/progress.js";

export interface RecoveryState {
  readonly inRecovery: boolean;
  readonly replayLsn: bigint | null;
  /** wait_event of the startup process (RecoveryRetrieveRetryInterval: no more WAL to be found). */
  readonly startupWait: string | null;
  readonly pauseState: string | null;
}

export async function recoveryState(client: pg.Client): Promise<RecoveryState> {
  const { rows } = await client.query<{ r: boolean; l: string | null; w: string | null; p: string | null }>(
    `SELECT pg_is_in_recovery() AS r, pg_last_wal_replay_lsn()::text AS l,
       (SELECT wait_event FROM pg_stat_activity WHERE backend_type = 'startup' LIMIT 1) AS w,
       CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() END AS p`,
  );
  const row = rows[0];
  return {
    inRecovery: row.r,
    replayLsn: row.l ? parseLsn(row.l) : null,
    startupWait: row.w,
    pauseState: row.p,
  };
}

export interface WatchOptions {
  readonly client: pg.Client;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Settles when the postmaster exits: the wait then fails with `describeExit()`. */
  readonly exited: Promise<unknown>;
  describeExit(): string;
  /** Fail when replay makes no progress for this long without reaching its goal. */
  readonly stallMs: number;
  /** Where replay started (the backup's start), for progress figures. */
  readonly fromLsn: bigint;
  /** Bytes of WAL replayed out of what must be (/status, WatchStatus, a log line every second); ended here. */
  readonly progress: ProgressReporter;
  readonly pollMs?: number;
}

class PostgresExited extends Error {}

async function pause(opts: WatchOptions): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let gone = false;
  await Promise.race([
    new Promise((r) => {
      timer = setTimeout(r, opts.pollMs ?? 200);
    }),
    opts.exited.then(() => {
      gone = true;
    }),
  ]);
  clearTimeout(timer);
  if (gone) throw new PostgresExited(opts.describeExit());
  if (opts.signal.aborted) throw opts.signal.reason ?? new Error("aborted");
}

/** Polls until `done(state)`; logs progress every second; fails on a stall or a dead postmaster. */
async function watch(
  opts: WatchOptions,
  goal: bigint | null,
  done: (s: RecoveryState) => boolean,
  stalled: (s: RecoveryState) => string,
): Promise<RecoveryState> {
  const progress = opts.progress;
  const total = goal !== null && goal > opts.fromLsn ? Number(goal - opts.fromLsn) : null;
  let lastLsn: bigint | null = null;
  let lastMove = performance.now();
  try {
    for (;;) {
      let s: RecoveryState;
      try {
        s = await recoveryState(opts.client);
      } catch (err) {
        // The connection dies with Postgres: report why Postgres stopped.
        await Promise.race([opts.exited, new Promise((r) => setTimeout(r, 500))]);
        throw new PostgresExited(opts.describeExit(), { cause: err });
      }
      const at = s.replayLsn ?? opts.fromLsn;
      progress.update({ bytesDone: Math.max(0, Number(at - opts.fromLsn)), bytesTotal: total });
      if (done(s)) return s;
      if (lastLsn === null || at !== lastLsn) {
        lastLsn = at;
        lastMove = performance.now();
      } else if (performance.now() - lastMove > opts.stallMs) {
        throw new Error(stalled(s));
      }
      await pause(opts);
    }
  } finally {
    progress.end();
  }
}

/**
 * Replays to the end of the archive, then promotes: returns the LSN recovery ended at and the
 * new timeline. `beforePromote` runs last (the lease check).
 */
export async function replayToEndAndPromote(
  opts: WatchOptions & { readonly requiredLsn: bigint; beforePromote(): Promise<void> },
): Promise<{ endLsn: string; timeline: number }> {
  const end = await watch(
    opts,
    opts.requiredLsn,
    (s) =>
      !s.inRecovery ||
      (s.replayLsn !== null &&
        s.replayLsn >= opts.requiredLsn &&
        s.startupWait === "RecoveryRetrieveRetryInterval"),
    (s) =>
      `WAL replay stalled at ${s.replayLsn === null ? "?" : formatLsn(s.replayLsn)} for ${Math.round(opts.stallMs / 1000)} s; ` +
      `the archive holds WAL up to at least ${formatLsn(opts.requiredLsn)}: is the repository reachable, or is a WAL segment missing?`,
  );
  if (!end.inRecovery) throw new Error("the restored cluster left recovery on its own (unexpected)");
  await opts.beforePromote();
  const { rows } = await opts.client.query<{ ok: boolean }>("SELECT pg_promote(true, 300) AS ok");
  if (!rows[0]?.ok) throw new Error("pg_promote() did not finish within 300 s");
  // The WAL file name carries the insert timeline (pg_control's may lag until the next checkpoint).
  const tl = await opts.client.query<{ f: string }>("SELECT pg_walfile_name(pg_current_wal_lsn()) AS f");
  const endLsn = end.replayLsn === null ? "0/0" : formatLsn(end.replayLsn);
  return { endLsn, timeline: Number.parseInt(tl.rows[0]?.f.slice(0, 8) ?? "0", 16) };
}

/** Waits until recovery reached its target and Postgres promoted itself (recovery_target_action = promote). */
export async function replayToTargetPromoted(
  opts: WatchOptions & { readonly goal: bigint },
): Promise<{ endLsn: string; timeline: number }> {
  await watch(
    opts,
    opts.goal,
    (s) => !s.inRecovery,
    (s) =>
      `WAL replay stalled at ${s.replayLsn === null ? "?" : formatLsn(s.replayLsn)} for ${Math.round(opts.stallMs / 1000)} s ` +
      `before the last shutdown checkpoint ${formatLsn(opts.goal)}: is the repository reachable?`,
  );
  const { rows } = await opts.client.query<{ l: string; f: string }>(
    "SELECT pg_current_wal_lsn()::text AS l, pg_walfile_name(pg_current_wal_lsn()) AS f",
  );
  return { endLsn: rows[0].l, timeline: Number.parseInt(rows[0].f.slice(0, 8), 16) };
}

/** Waits until recovery has paused at its target (Static mode); returns the LSN it paused at. */
export async function waitForTargetPause(
  opts: WatchOptions & { readonly goal: bigint | null },
): Promise<string> {
  const s = await watch(
    opts,
    opts.goal,
    (st) => st.pauseState === "paused",
    (st) =>
      `recovery to the target made no progress for ${Math.round(opts.stallMs / 1000)} s (at ${st.replayLsn === null ? "?" : formatLsn(st.replayLsn)})`,
  );
  return s.replayLsn === null ? "0/0" : formatLsn(s.replayLsn);
}
