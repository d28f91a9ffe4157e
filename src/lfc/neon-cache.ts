// The cache state of a Neon Postgres: the bytes of `neon.get_local_cache_state()` (NULL when the
// LFC is empty or off), loaded back with `neon.prewarm_local_cache(state)`, whose progress
// `neon.get_prewarm_info()` reports (total, prewarmed, skipped pages, active workers); a second
// session polls it every second while the load runs. Cancelling cancels the loading query.
import type pg from "pg";
import type { ConnectionTarget } from "../postgres/connection.js";
import { connect, withConnection } from "../postgres/connection.js";
import type { LoadResult } from "./buffer-prewarm.js";

const PREWARM_APP = "compute_ctl:lfc_prewarm";

/** True when the neon extension's LFC functions are there (in the agent's database). */
export async function hasNeonCache(target: ConnectionTarget): Promise<boolean> {
  return withConnection(target, { applicationName: "compute_ctl:lfc" }, async (c) => {
    const { rows } = await c.query<{ neon: boolean }>(
      `SELECT to_regprocedure('neon.get_local_cache_state(integer)') IS NOT NULL
          AND to_regprocedure('neon.prewarm_local_cache(bytea,integer)') IS NOT NULL AS neon`,
    );
    return rows[0].neon;
  });
}

export async function captureNeonState(target: ConnectionTarget): Promise<Buffer | null> {
  return withConnection(target, { applicationName: "compute_ctl:lfc_offload" }, async (c) => {
    const { rows } = await c.query<{ state: Buffer | null }>(`SELECT neon.get_local_cache_state() AS state`);
    return rows[0].state;
  });
}

async function prewarmInfo(c: pg.Client): Promise<LoadResult> {
  const { rows } = await c.query<{ total_pages: number; prewarmed_pages: number; skipped_pages: number }>(
    `SELECT total_pages, prewarmed_pages, skipped_pages FROM neon.get_prewarm_info()`,
  );
  const r = rows[0];
  return { total: r?.total_pages ?? 0, prewarmed: r?.prewarmed_pages ?? 0, skipped: r?.skipped_pages ?? 0 };
}

export async function loadNeonState(
  state: Buffer,
  opts: { target: ConnectionTarget; signal: AbortSignal; onProgress(prewarmed: number, total: number): void },
): Promise<LoadResult> {
  const loader = await connect(opts.target, { applicationName: PREWARM_APP });
  const watcher = await connect(opts.target, { applicationName: PREWARM_APP }).catch(async (err: unknown) => {
    await loader.end().catch(() => {});
    throw err;
  });
  const pid = (loader as unknown as { processID: number }).processID;
  const onAbort = () => void watcher.query("SELECT pg_catalog.pg_cancel_backend($1)", [pid]).catch(() => {});
  opts.signal.addEventListener("abort", onAbort, { once: true });
  let polling = true;
  const timer = setInterval(() => {
    void prewarmInfo(watcher).then(
      (info) => polling && opts.onProgress(info.prewarmed, info.total),
      () => {},
    );
  }, 1000);
  try {
    await loader.query("SELECT neon.prewarm_local_cache($1)", [state]);
    polling = false;
    clearInterval(timer);
    const done = await prewarmInfo(watcher);
    opts.onProgress(done.prewarmed, done.total);
    return done;
  } catch (err) {
    opts.signal.throwIfAborted();
    throw err;
  } finally {
    polling = false;
    clearInterval(timer);
    opts.signal.removeEventListener("abort", onAbort);
    await Promise.all([loader.end().catch(() => {}), watcher.end().catch(() => {})]);
  }
}
