// Loads a vanilla cache state back into shared_buffers with pg_prewarm, the fastest way we know:
//  - only what fits: with more pages than shared_buffers (less a reserve for the queries that
//    follow), the runs with the highest usagecount win, so later loads do not evict earlier ones;
//  - per relation and in block order, in runs of up to 2048 blocks (16 MiB): one pg_prewarm call
//    per run reads sequentially, so the kernel's read-ahead works for us;
//  - a few sessions per database pulling runs from one queue, so I/O of one overlaps the CPU of
//    the others (the machine's CPUs, 2 to 4);
//  - relations that vanished, or whose relfilenode changed (rewritten since the offload), are
//    skipped, and runs are clipped to the relation's current length: never an error.
// Progress (pages loaded) is reported after every run; aborting cancels the running calls.
import os from "node:os";
import type pg from "pg";
import type { Logger } from "pino";
import type { ConnectionTarget } from "../postgres/connection.js";
import { connect, withConnection } from "../postgres/connection.js";
import type { BlockRun, BufferState, DatabaseBlocks, ForkName } from "./buffer-state-format.js";
import { pagesIn } from "./buffer-state-format.js";
import { ensureContribExtension } from "./contrib-extension.js";

const APP = "compute_ctl:lfc_prewarm";
export const MAX_RUN_BLOCKS = 2048;

export interface LoadResult {
  total: number;
  prewarmed: number;
  skipped: number;
}

export interface LoadOptions {
  target: ConnectionTarget;
  log: Logger;
  signal: AbortSignal;
  onProgress(prewarmed: number, total: number): void;
  /** Sessions per database (default: CPUs, 2..4). */
  concurrency?: number;
}

interface WorkItem {
  oid: number;
  fork: ForkName;
  first: number;
  last: number;
}

/** Runs to load for one database, after the relation checks; `skipped` counts what was dropped. */
interface DatabasePlan {
  db: DatabaseBlocks;
  items: WorkItem[];
  skipped: number;
}

/** Picks the runs that fit in `budget` pages, hottest first; returns them with what was cut. */
export function fitToBudget(state: BufferState, budget: number): { state: BufferState; cut: number } {
  const total = pagesIn(state);
  if (total <= budget) return { state, cut: 0 };
  const runs: { usage: number; run: BlockRun }[] = [];
  for (const db of state.databases)
    for (const rel of db.relations)
      for (const list of Object.values(rel.forks))
        for (const run of list ?? []) runs.push({ usage: run[2], run });
  runs.sort((a, b) => b.usage - a.usage);
  const keep = new Map<BlockRun, number>();
  let left = budget;
  for (const { run } of runs) {
    if (left <= 0) break;
    const n = Math.min(run[1], left);
    keep.set(run, n);
    left -= n;
  }
  const databases = state.databases
    .map((db) => ({
      ...db,
      relations: db.relations
        .map((rel) => {
          const forks: Partial<Record<ForkName, BlockRun[]>> = {};
          for (const [fork, list] of Object.entries(rel.forks) as [ForkName, BlockRun[]][]) {
            const kept = list.filter((r) => keep.has(r)).map((r): BlockRun => [r[0], keep.get(r) ?? 0, r[2]]);
            if (kept.length) forks[fork] = kept;
          }
          return { ...rel, forks };
        })
        .filter((rel) => Object.keys(rel.forks).length > 0),
    }))
    .filter((db) => db.relations.length > 0);
  return { state: { ...state, databases }, cut: total - budget };
}

async function sharedBuffers(target: ConnectionTarget): Promise<number> {
  return withConnection(target, { applicationName: APP }, async (c) => {
    const { rows } = await c.query<{ n: number }>(
      `SELECT setting::int AS n FROM pg_catalog.pg_settings WHERE name = 'shared_buffers'`,
    );
    return rows[0].n;
  });
}

/** Checks each relation against the catalog now; returns the runs still valid, split and clipped. */
async function planDatabase(c: pg.Client, db: DatabaseBlocks, blockSize: number): Promise<DatabasePlan> {
  const pairs: { oid: number; filenode: number; fork: ForkName }[] = [];
  for (const rel of db.relations)
    for (const fork of Object.keys(rel.forks) as ForkName[])
      pairs.push({ oid: rel.oid, filenode: rel.filenode, fork });
  const { rows } = await c.query<{
    oid: string;
    fork: ForkName;
    same: boolean | null;
    nblocks: string | null;
  }>(
    `SELECT u.oid::int8 AS oid, u.fork,
            (pg_catalog.pg_relation_filenode(cl.oid) = u.fn AND cl.relpersistence <> 't') AS same,
            pg_catalog.pg_relation_size(cl.oid, u.fork) / $4::int8 AS nblocks
       FROM unnest($1::oid[], $2::oid[], $3::text[]) AS u(oid, fn, fork)
       LEFT JOIN pg_catalog.pg_class cl ON cl.oid = u.oid`,
    [pairs.map((p) => p.oid), pairs.map((p) => p.filenode), pairs.map((p) => p.fork), blockSize],
  );
  const current = new Map(rows.map((r) => [`${r.oid}/${r.fork}`, r]));
  const items: WorkItem[] = [];
  let skipped = 0;
  for (const rel of db.relations) {
    for (const [fork, runs] of Object.entries(rel.forks) as [ForkName, BlockRun[]][]) {
      const now = current.get(`${rel.oid}/${fork}`);
      const nblocks = now?.same ? Number(now.nblocks ?? 0) : 0;
      const sorted = [...runs].sort((a, b) => a[0] - b[0]);
      for (const [first, count] of sorted) {
        const last = Math.min(first + count, nblocks) - 1;
        if (last < first) {
          skipped += count;
          continue;
        }
        skipped += first + count - 1 - last;
        for (let s = first; s <= last; s += MAX_RUN_BLOCKS)
          items.push({ oid: rel.oid, fork, first: s, last: Math.min(s + MAX_RUN_BLOCKS - 1, last) });
      }
    }
  }
  return { db, items, skipped };
}

function pagesOf(db: DatabaseBlocks): number {
  return pagesIn({ databases: [db] } as BufferState);
}

const SKIP_CODES = new Set([
  "42P01", // undefined_table: dropped after the check
  "22023", // invalid_parameter_value: block range beyond a relation truncated after the check
  "XX000", // "could not open relation with OID": dropped between lookup and read
]);

export async function loadBufferState(input: BufferState, opts: LoadOptions): Promise<LoadResult> {
  const total = pagesIn(input);
  const nbuffers = await sharedBuffers(opts.target);
  // Leave room for what the first queries read and for Postgres's own buffers.
  const budget = Math.max(0, nbuffers - Math.max(128, Math.floor(nbuffers / 16)));
  const { state, cut } = fitToBudget(input, budget);
  if (cut > 0)
    opts.log.info(
      { pages: total, budget, cut },
      "cache state is larger than shared_buffers: loading the hottest pages",
    );
  let prewarmed = 0;
  let skipped = cut;
  opts.onProgress(0, total);
  const concurrency = opts.concurrency ?? Math.min(4, Math.max(2, os.availableParallelism()));

  for (const db of state.databases) {
    opts.signal.throwIfAborted();
    let control: pg.Client;
    try {
      control = await connect(opts.target, { applicationName: APP, database: db.name });
    } catch (err) {
      if ((err as { code?: string }).code === "3D000") {
        // invalid_catalog_name: the database is gone.
        skipped += pagesOf(db);
        continue;
      }
      throw err;
    }
    try {
      const { rows } = await control.query<{ oid: string }>(
        `SELECT oid::int8 AS oid FROM pg_catalog.pg_database WHERE datname = current_database()`,
      );
      if (Number(rows[0].oid) !== db.oid) {
        skipped += pagesOf(db); // recreated under the same name: none of its relations are ours
        continue;
      }
      const ext = await ensureContribExtension(control, "pg_prewarm", db.name);
      const plan = await planDatabase(control, db, state.block_size);
      skipped += plan.skipped;
      const loaded = await runItems(plan.items, ext, control, db.name, concurrency, opts, (n, missed) => {
        prewarmed += n;
        skipped += missed;
        opts.onProgress(prewarmed, total);
      });
      opts.log.info({ database: db.name, pages: loaded, runs: plan.items.length }, "database prewarmed");
    } finally {
      await control.end().catch(() => {});
    }
  }
  return { total, prewarmed, skipped };
}

async function runItems(
  items: WorkItem[],
  ext: string,
  control: pg.Client,
  database: string,
  concurrency: number,
  opts: LoadOptions,
  report: (loaded: number, skipped: number) => void,
): Promise<number> {
  if (items.length === 0) return 0;
  let next = 0;
  let loaded = 0;
  let failed = false;
  const sessions: pg.Client[] = [];
  const busy = new Set<number>();
  const onAbort = () => {
    // Cancel the calls in flight; the workers then stop taking items.
    const pids = [...busy];
    if (pids.length)
      void control
        .query("SELECT pg_catalog.pg_cancel_backend(pid) FROM unnest($1::int[]) AS pid", [pids])
        .catch(() => {});
  };
  opts.signal.addEventListener("abort", onAbort, { once: true });
  const worker = async () => {
    const c = await connect(opts.target, { applicationName: APP, database });
    sessions.push(c);
    const pid = (c as unknown as { processID: number }).processID;
    while (next < items.length && !opts.signal.aborted && !failed) {
      const item = items[next++];
      const count = item.last - item.first + 1;
      busy.add(pid);
      try {
        const { rows } = await c.query<{ n: string }>(
          `SELECT ${ext}pg_prewarm($1::regclass, 'buffer', $2::text, $3::int8, $4::int8) AS n`,
          [item.oid, item.fork, item.first, item.last],
        );
        const n = Number(rows[0].n);
        loaded += n;
        report(n, count - n);
      } catch (err) {
        const code = (err as { code?: string }).code ?? "";
        if (opts.signal.aborted) break;
        if (!SKIP_CODES.has(code)) {
          failed = true;
          throw err;
        }
        report(0, count);
      } finally {
        busy.delete(pid);
      }
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.min(concurrency, items.length) }, () =>
        worker().catch((err: unknown) => {
          failed = true;
          throw err;
        }),
      ),
    );
  } finally {
    opts.signal.removeEventListener("abort", onAbort);
    await Promise.all(sessions.map((s) => s.end().catch(() => {})));
  }
  opts.signal.throwIfAborted();
  return loaded;
}
