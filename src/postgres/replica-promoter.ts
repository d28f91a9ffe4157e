// Promoting a running streaming replica to a primary: wait until it has replayed the WAL the
// caller knows was flushed on the old primary (so no acknowledged commit is lost), run
// pg_promote, and check the result really accepts writes. Concurrent requests share one
// promotion (ReplicaPromoter): pg_promote must not race with itself.

import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import type { Logger } from "pino";
import { OperationError } from "../errors/operation-error.js";
import { type ConnectionTarget, withConnection } from "./connection.js";
import { parseLsn } from "./lsn.js";

export interface PromoteOptions {
  readonly target: ConnectionTarget;
  /** Replay must reach this LSN before promoting (Neon's `wal_flush_lsn`); omitted: promote at once. */
  readonly walFlushLsn?: string | null;
  /** How long to wait for replay to reach walFlushLsn (default 20 s, as Neon). */
  readonly timeoutMs?: number;
  /** Seconds pg_promote waits for the promotion to finish (default 60). */
  readonly promoteWaitSeconds?: number;
  readonly log: Logger;
  readonly signal?: AbortSignal;
}

export interface PromoteResult {
  readonly lsn_wait_time_ms: number;
  readonly pg_promote_time_ms: number;
  /** pg_current_wal_lsn() right after promotion: where the new primary's history starts. */
  readonly lsn: string;
}

async function waitForReplay(client: pg.Client, lsn: string, opts: PromoteOptions): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    const { rows } = await client.query<{ reached: boolean | null; replayed: string | null }>(
      "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS reached, pg_last_wal_replay_lsn()::text AS replayed",
      [lsn],
    );
    if (rows[0].reached) return;
    if (Date.now() >= deadline) {
      throw new OperationError(
        "internal",
        `promote: replica replayed WAL only up to ${rows[0].replayed ?? "nothing"}, not ${lsn}, within ${opts.timeoutMs ?? 20_000} ms`,
      );
    }
    await sleep(50, undefined, opts.signal ? { signal: opts.signal } : undefined);
  }
}

export async function promoteReplica(opts: PromoteOptions): Promise<PromoteResult> {
  if (opts.walFlushLsn != null) {
    try {
      parseLsn(opts.walFlushLsn);
    } catch (err) {
      throw new OperationError("unprocessable", `promote: wal_flush_lsn: ${(err as Error).message}`);
    }
  }
  return withConnection(opts.target, { applicationName: "compute_ctl:promote" }, async (client) => {
    const [{ recovery }] = (
      await client.query<{ recovery: boolean }>("SELECT pg_is_in_recovery() AS recovery")
    ).rows;
    if (!recovery)
      throw new OperationError("failed_precondition", "promote: Postgres is not a replica (not in recovery)");

    const waitStart = performance.now();
    if (opts.walFlushLsn != null) await waitForReplay(client, opts.walFlushLsn, opts);
    const lsnWaitMs = Math.round(performance.now() - waitStart);
    opts.log.info({ walFlushLsn: opts.walFlushLsn ?? null, lsnWaitMs }, "replica caught up, promoting");

    const promoteStart = performance.now();
    const wait = opts.promoteWaitSeconds ?? 60;
    const [{ promoted }] = (
      await client.query<{ promoted: boolean }>("SELECT pg_promote(true, $1) AS promoted", [wait])
    ).rows;
    if (!promoted)
      throw new OperationError("internal", `promote: pg_promote did not finish within ${wait} s`);
    const pgPromoteMs = Math.round(performance.now() - promoteStart);

    // A primary that still refuses writes is not promoted, whatever pg_promote said.
    const [state] = (
      await client.query<{ recovery: boolean; read_only: string }>(
        "SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only",
      )
    ).rows;
    if (state.recovery || state.read_only !== "off") {
      throw new OperationError(
        "internal",
        `promote: still read-only after pg_promote (in recovery: ${state.recovery})`,
      );
    }
    await client.query("SELECT txid_current()");
    const [{ lsn }] = (await client.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn")).rows;
    opts.log.info({ lsn, pgPromoteMs }, "replica promoted to primary");
    return { lsn_wait_time_ms: lsnWaitMs, pg_promote_time_ms: pgPromoteMs, lsn };
  });
}

/**
 * Single-flight promotion: callers that arrive while a promotion runs get its result; after a
 * success every later call gets that same result; after a failure the next call tries again.
 */
export class ReplicaPromoter {
  private inflight: Promise<PromoteResult> | null = null;
  private done: PromoteResult | null = null;

  promote(opts: PromoteOptions): Promise<PromoteResult> {
    if (this.done) return Promise.resolve(this.done);
    this.inflight ??= promoteReplica(opts)
      .then((r) => {
        this.done = r;
        return r;
      })
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }

  /** The completed promotion, if any. */
  result(): PromoteResult | null {
    return this.done;
  }
}
