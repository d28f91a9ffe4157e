// Where the six autoscaling numbers come from. With Neon's extension the LFC objects answer
// directly (detected by the objects themselves, `neon.neon_lfc_stats` and
// `neon.approximate_working_set_size_seconds(integer)`, not by the pg_extension row, so a
// relocated or partially installed extension is judged by what can actually be called). On
// vanilla Postgres the shared-buffer cache stands in for the LFC: its size, its hit and read
// counters, its fills, and the buffer sampler's occupancy and working-set estimate.
import type { ExporterConnection } from "./exporter-connection.js";

export type SourceKind = "neon" | "vanilla";

export interface AutoscalingValues {
  cacheSizeLimitBytes: number;
  hits: number;
  misses: number;
  usedChunks: number;
  writes: number;
  /** Sixty estimates in pages: windows of 60 s .. 3600 s. */
  windows: number[];
}

export const DETECT_NEON_SQL = `SELECT
  pg_catalog.to_regclass('neon.neon_lfc_stats') IS NOT NULL
  AND pg_catalog.to_regprocedure('neon.approximate_working_set_size_seconds(integer)') IS NOT NULL AS neon`;

// The limit comes from the GUC as in Neon's collector; without it (GUC not loaded) from the
// view's chunk limit. NULL counters mean the LFC has no shared memory: Neon's exporter says 0.
export const NEON_SQL = `WITH s AS (
  SELECT pg_catalog.max(lfc_value) FILTER (WHERE lfc_key = 'file_cache_hits') AS hits,
         pg_catalog.max(lfc_value) FILTER (WHERE lfc_key = 'file_cache_misses') AS misses,
         pg_catalog.max(lfc_value) FILTER (WHERE lfc_key = 'file_cache_used') AS used,
         pg_catalog.max(lfc_value) FILTER (WHERE lfc_key = 'file_cache_writes') AS writes,
         pg_catalog.max(lfc_value) FILTER (WHERE lfc_key = 'file_cache_limit') AS limit_chunks,
         pg_catalog.max(lfc_value) FILTER (WHERE lfc_key = 'file_cache_chunk_size_pages') AS chunk_pages
  FROM neon.neon_lfc_stats)
SELECT COALESCE(pg_catalog.pg_size_bytes(pg_catalog.current_setting('neon.file_cache_size_limit', true)),
         s.limit_chunks * s.chunk_pages * pg_catalog.current_setting('block_size')::int8, 0) AS cache_size_limit,
       s.hits, s.misses, s.used, s.writes,
       (SELECT pg_catalog.array_agg(neon.approximate_working_set_size_seconds(d) ORDER BY d)
          FROM pg_catalog.generate_series(60, 3600, 60) AS d) AS windows
FROM s`;

export const VANILLA_SQL = `SELECT
  (SELECT setting::int8 * pg_catalog.current_setting('block_size')::int8 FROM pg_catalog.pg_settings
     WHERE name = 'shared_buffers') AS cache_size_limit,
  (SELECT pg_catalog.sum(blks_hit) FROM pg_catalog.pg_stat_database)::int8 AS hits,
  (SELECT pg_catalog.sum(blks_read) FROM pg_catalog.pg_stat_database)::int8 AS misses,
  (SELECT buffers_alloc FROM pg_catalog.pg_stat_bgwriter) AS writes`;

function num(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

export async function detectSource(conn: ExporterConnection, timeoutMs: number): Promise<SourceKind> {
  const r = (await conn.query("detecting the neon LFC objects", DETECT_NEON_SQL, timeoutMs)) as {
    rows: { neon: boolean }[];
  };
  return r.rows[0]?.neon ? "neon" : "vanilla";
}

export async function readNeon(conn: ExporterConnection, timeoutMs: number): Promise<AutoscalingValues> {
  const r = (await conn.query("reading neon LFC metrics", NEON_SQL, timeoutMs)) as {
    rows: Record<string, unknown>[];
  };
  const row = r.rows[0] ?? {};
  const hits = num(row.hits);
  const windows = ((row.windows as unknown[] | null) ?? []).map((w) => {
    // NULL: the LFC is disabled (-1, as Neon's exporter reports) or has no shared memory (0).
    const n = num(w);
    return n ?? (hits === null ? 0 : -1);
  });
  while (windows.length < 60) windows.push(hits === null ? 0 : -1);
  return {
    cacheSizeLimitBytes: num(row.cache_size_limit) ?? 0,
    hits: hits ?? 0,
    misses: num(row.misses) ?? 0,
    usedChunks: num(row.used) ?? 0,
    writes: num(row.writes) ?? 0,
    windows,
  };
}

/** The counters of the vanilla source; occupancy and windows come from the buffer sampler. */
export async function readVanillaCounters(
  conn: ExporterConnection,
  timeoutMs: number,
): Promise<Omit<AutoscalingValues, "usedChunks" | "windows">> {
  const r = (await conn.query("reading shared-buffer statistics", VANILLA_SQL, timeoutMs)) as {
    rows: Record<string, unknown>[];
  };
  const row = r.rows[0] ?? {};
  return {
    cacheSizeLimitBytes: num(row.cache_size_limit) ?? 0,
    hits: num(row.hits) ?? 0,
    misses: num(row.misses) ?? 0,
    writes: num(row.writes) ?? 0,
  };
}
