// Reads what shared_buffers holds (pg_buffercache) and names it: runs of consecutive blocks per
// relation fork, grouped in SQL, then each database maps its relfilenodes to pg_class oids
// (pg_filenode_relation). Shared catalogs, temporary relations and databases that refuse
// connections are left out: they cannot or need not be loaded back.
import type { ConnectionTarget } from "../postgres/connection.js";
import { withConnection } from "../postgres/connection.js";
import type {
  BlockRun,
  BufferState,
  DatabaseBlocks,
  ForkName,
  RelationBlocks,
} from "./buffer-state-format.js";
import { FORKS, FORMAT } from "./buffer-state-format.js";
import { ensureContribExtension } from "./contrib-extension.js";

const APP = "compute_ctl:lfc_offload";

interface RunRow {
  db: number;
  ts: number;
  fn: number;
  fork: number;
  first: string;
  n: string;
  usage: number;
}

export async function captureBufferState(
  target: ConnectionTarget,
  signal: AbortSignal,
): Promise<BufferState> {
  const { runs, databases, blockSize } = await withConnection(target, { applicationName: APP }, async (c) => {
    const ext = await ensureContribExtension(c, "pg_buffercache", c.database ?? "postgres");
    // Gaps and islands: block - row_number() is constant along a run of consecutive blocks.
    const runs = await c.query<RunRow>(
      `SELECT db, ts, fn, fork, min(blk) AS first, count(*) AS n, max(usage) AS usage
         FROM (SELECT reldatabase::int8 AS db, reltablespace::int8 AS ts, relfilenode::int8 AS fn,
                      relforknumber::int AS fork, relblocknumber::int8 AS blk, usagecount::int AS usage,
                      relblocknumber::int8 - row_number() OVER
                        (PARTITION BY reldatabase, reltablespace, relfilenode, relforknumber
                         ORDER BY relblocknumber) AS grp
                 FROM ${ext}pg_buffercache
                WHERE relfilenode IS NOT NULL AND reldatabase <> 0) b
        GROUP BY db, ts, fn, fork, grp
        ORDER BY db, ts, fn, fork, first`,
    );
    const dbs = await c.query<{ oid: number; datname: string }>(
      `SELECT oid::int8 AS oid, datname FROM pg_catalog.pg_database WHERE datallowconn AND NOT datistemplate`,
    );
    const bs = await c.query<{ block_size: number }>(
      `SELECT current_setting('block_size')::int AS block_size`,
    );
    return {
      runs: runs.rows.map((r) => ({ ...r, db: Number(r.db), ts: Number(r.ts), fn: Number(r.fn) })),
      databases: dbs.rows.map((d) => ({ oid: Number(d.oid), name: d.datname })),
      blockSize: bs.rows[0].block_size,
    };
  });

  const byDb = new Map<number, RunRow[]>();
  for (const r of runs) {
    const list = byDb.get(r.db);
    if (list) list.push(r);
    else byDb.set(r.db, [r]);
  }
  const out: DatabaseBlocks[] = [];
  for (const db of databases) {
    const dbRuns = byDb.get(db.oid);
    if (!dbRuns || signal.aborted) continue;
    const relations = await nameRelations(target, db.name, dbRuns);
    if (relations.length) out.push({ name: db.name, oid: db.oid, relations });
  }
  signal.throwIfAborted();
  return {
    format: FORMAT,
    version: 1,
    block_size: blockSize,
    captured_at: new Date().toISOString(),
    databases: out,
  };
}

/** Maps (tablespace, relfilenode) to pg_class in `database`; unknown and temporary ones drop out. */
async function nameRelations(
  target: ConnectionTarget,
  database: string,
  runs: RunRow[],
): Promise<RelationBlocks[]> {
  const keys = new Map<string, { ts: number; fn: number }>();
  for (const r of runs) keys.set(`${r.ts}/${r.fn}`, { ts: r.ts, fn: r.fn });
  const list = [...keys.values()];
  const names = await withConnection(target, { applicationName: APP, database }, async (c) => {
    const { rows } = await c.query<{ ts: string; fn: string; oid: string; name: string }>(
      `SELECT u.ts, u.fn, cl.oid::int8 AS oid, n.nspname || '.' || cl.relname AS name
         FROM unnest($1::oid[], $2::oid[]) AS u(ts, fn)
         JOIN pg_catalog.pg_class cl ON cl.oid = pg_catalog.pg_filenode_relation(u.ts, u.fn)
         JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace
        WHERE cl.relpersistence <> 't'`,
      [list.map((k) => k.ts), list.map((k) => k.fn)],
    );
    return new Map(rows.map((r) => [`${r.ts}/${r.fn}`, { oid: Number(r.oid), name: r.name }]));
  }).catch(() => new Map<string, { oid: number; name: string }>()); // dropped meanwhile
  const rels = new Map<string, RelationBlocks>();
  for (const r of runs) {
    const key = `${r.ts}/${r.fn}`;
    const named = names.get(key);
    const fork: ForkName | undefined = FORKS[r.fork];
    if (!named || !fork) continue;
    let rel = rels.get(key);
    if (!rel) {
      rel = { oid: named.oid, filenode: r.fn, name: named.name, forks: {} };
      rels.set(key, rel);
    }
    const run: BlockRun = [Number(r.first), Number(r.n), r.usage];
    const list = rel.forks[fork];
    if (list) list.push(run);
    else rel.forks[fork] = [run];
  }
  return [...rels.values()];
}
