// The Postgres set: every metric of Neon's main sql_exporter collector (`neon_collector`) that
// stock PostgreSQL 14-17 can compute, with the same names, types, labels and HELP texts on every
// major. Each entry reads like a sql_exporter definition (key labels, optional value label, value
// columns) and is turned into samples the way sql_exporter does: one sample per row and value
// column, NULL values omitted, NULL label values rendered as "". Where a major keeps a number
// elsewhere (17: checkpoint counters in pg_stat_checkpointer; 14: no pg_ls_logicalsnapdir), the
// entry's query is chosen by the server's capabilities, as Neon picks a `<name>.<major>.sql`.

import type { MetricFamily, MetricType, Sample } from "../metrics/metric-family.js";
import type { PgCapabilities } from "../postgres/capabilities.js";

export interface SqlMetric {
  name: string;
  help: string;
  type: MetricType;
  keyLabels: string[];
  /** When set, each value column becomes a sample labelled `<valueLabel>="<column>"`. */
  valueLabel?: string;
  values: string[];
  /** The query, or the query for a server with these capabilities. */
  sql: string | ((caps: PgCapabilities) => string);
}

export function metricSql(m: SqlMetric, caps: PgCapabilities): string {
  return typeof m.sql === "string" ? m.sql : m.sql(caps);
}

export const POSTGRES_SET: readonly SqlMetric[] = [
  {
    name: "checkpoints_req",
    help: "Number of requested checkpoints",
    type: "gauge",
    keyLabels: [],
    values: ["checkpoints_req"],
    sql: (c) =>
      c.checkpointerView
        ? "SELECT num_requested AS checkpoints_req FROM pg_catalog.pg_stat_checkpointer"
        : "SELECT checkpoints_req FROM pg_catalog.pg_stat_bgwriter",
  },
  {
    name: "checkpoints_timed",
    help: "Number of scheduled checkpoints",
    type: "gauge",
    keyLabels: [],
    values: ["checkpoints_timed"],
    sql: (c) =>
      c.checkpointerView
        ? "SELECT num_timed AS checkpoints_timed FROM pg_catalog.pg_stat_checkpointer"
        : "SELECT checkpoints_timed FROM pg_catalog.pg_stat_bgwriter",
  },
  {
    name: "compute_current_lsn",
    help: "Current LSN of the database",
    type: "gauge",
    keyLabels: [],
    values: ["lsn"],
    sql: `SELECT CASE WHEN pg_catalog.pg_is_in_recovery()
  THEN (pg_catalog.pg_last_wal_replay_lsn() - '0/0')::pg_catalog.float8
  ELSE (pg_catalog.pg_current_wal_lsn() - '0/0')::pg_catalog.float8 END AS lsn`,
  },
  {
    name: "compute_receive_lsn",
    help: "Returns the last write-ahead log location that has been received and synced to disk by streaming replication",
    type: "gauge",
    keyLabels: [],
    values: ["lsn"],
    sql: `SELECT CASE WHEN pg_catalog.pg_is_in_recovery()
  THEN (pg_catalog.pg_last_wal_receive_lsn() - '0/0')::pg_catalog.float8 ELSE 0 END AS lsn`,
  },
  {
    // Neon reads the label from its timeline GUC; on vanilla Postgres it does not exist and the
    // label is left out.
    name: "compute_logical_snapshot_files",
    help: "Number of snapshot files in pg_logical/snapshot",
    type: "gauge",
    keyLabels: ["timeline_id"],
    values: ["num_logical_snapshot_files"],
    sql: `SELECT pg_catalog.current_setting('neon.timeline_id', true) AS timeline_id,
  (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ls_dir('pg_logical/snapshots') AS name WHERE name LIKE '%.snap')
    AS num_logical_snapshot_files`,
  },
  {
    name: "compute_logical_snapshots_bytes",
    help: "Size of the pg_logical/snapshots directory, not including temporary files",
    type: "gauge",
    keyLabels: ["timeline_id"],
    values: ["logical_snapshots_bytes"],
    sql: (c) => `SELECT pg_catalog.current_setting('neon.timeline_id', true) AS timeline_id,
  ${
    c.lsLogicalSnapDir
      ? `(SELECT COALESCE(pg_catalog.sum(size), 0) FROM pg_catalog.pg_ls_logicalsnapdir() WHERE name LIKE '%.snap')`
      : `(SELECT COALESCE(pg_catalog.sum((pg_catalog.pg_stat_file('pg_logical/snapshots/' || name, true)).size), 0)
     FROM pg_catalog.pg_ls_dir('pg_logical/snapshots') AS name WHERE name LIKE '%.snap')`
  }
    AS logical_snapshots_bytes`,
  },
  {
    name: "compute_max_connections",
    help: "Max connections allowed for Postgres",
    type: "gauge",
    keyLabels: [],
    values: ["max_connections"],
    sql: "SELECT pg_catalog.current_setting('max_connections') AS max_connections",
  },
  {
    name: "compute_subscriptions_count",
    help: "Number of logical replication subscriptions grouped by enabled/disabled",
    type: "gauge",
    keyLabels: ["enabled"],
    values: ["subscriptions_count"],
    sql: `SELECT subenabled::pg_catalog.text AS enabled, pg_catalog.count(*) AS subscriptions_count
  FROM pg_catalog.pg_subscription GROUP BY subenabled`,
  },
  {
    name: "connection_counts",
    help: "Connection counts",
    type: "gauge",
    keyLabels: ["datname", "state"],
    values: ["count"],
    sql: `SELECT datname, state, pg_catalog.count(*) AS count FROM pg_catalog.pg_stat_activity
  WHERE state <> '' GROUP BY datname, state`,
  },
  {
    name: "db_total_size",
    help: "Size of all databases",
    type: "gauge",
    keyLabels: [],
    values: ["total"],
    sql: `SELECT pg_catalog.sum(pg_catalog.pg_database_size(datname)) AS total FROM pg_catalog.pg_database
  WHERE datconnlimit != -2`,
  },
  {
    name: "compute_pg_oldest_frozen_xid_age",
    help: "Age of oldest XIDs that have not been frozen by VACUUM. An indicator of how long it has been since VACUUM last ran.",
    type: "gauge",
    keyLabels: ["database_name"],
    valueLabel: "metric",
    values: ["frozen_xid_age"],
    sql: `SELECT datname AS database_name, pg_catalog.age(datfrozenxid) AS frozen_xid_age FROM pg_catalog.pg_database
  ORDER BY frozen_xid_age DESC LIMIT 10`,
  },
  {
    name: "compute_pg_oldest_mxid_age",
    help: "Age of oldest MXIDs that have not been replaced by VACUUM. An indicator of how long it has been since VACUUM last ran.",
    type: "gauge",
    keyLabels: ["database_name"],
    valueLabel: "metric",
    values: ["min_mxid_age"],
    sql: `SELECT datname AS database_name, pg_catalog.mxid_age(datminmxid) AS min_mxid_age FROM pg_catalog.pg_database
  ORDER BY min_mxid_age DESC LIMIT 10`,
  },
  {
    name: "logical_slot_restart_lsn",
    help: "restart_lsn of logical slots",
    type: "gauge",
    keyLabels: ["slot_name"],
    values: ["restart_lsn"],
    sql: `SELECT slot_name, (restart_lsn - '0/0')::pg_catalog.float8 AS restart_lsn FROM pg_catalog.pg_replication_slots
  WHERE slot_type = 'logical'`,
  },
  {
    name: "pg_stats_userdb",
    help: "Stats for several oldest non-system dbs",
    type: "gauge",
    keyLabels: ["datname"],
    valueLabel: "kind",
    values: ["db_size", "deadlocks", "inserted", "updated", "deleted"],
    sql: `SELECT pg_catalog.pg_database_size(datname) AS db_size, deadlocks, tup_inserted AS inserted,
  tup_updated AS updated, tup_deleted AS deleted, datname
FROM pg_catalog.pg_stat_database
WHERE datname IN (SELECT datname FROM pg_catalog.pg_database
  WHERE datconnlimit != -2 AND datname <> 'postgres' AND NOT datistemplate ORDER BY oid LIMIT 10)`,
  },
  {
    name: "replication_delay_bytes",
    help: "Bytes between received and replayed LSN",
    type: "gauge",
    keyLabels: [],
    values: ["replication_delay_bytes"],
    sql: `SELECT GREATEST(0, pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(),
  pg_catalog.pg_last_wal_replay_lsn())) AS replication_delay_bytes`,
  },
  {
    name: "replication_delay_seconds",
    help: "Time since last LSN was replayed",
    type: "gauge",
    keyLabels: [],
    values: ["replication_delay_seconds"],
    sql: `SELECT CASE WHEN pg_catalog.pg_last_wal_receive_lsn() = pg_catalog.pg_last_wal_replay_lsn() THEN 0
  ELSE GREATEST(0, EXTRACT(EPOCH FROM pg_catalog.now() - pg_catalog.pg_last_xact_replay_timestamp())) END
  AS replication_delay_seconds`,
  },
  {
    name: "retained_wal",
    help: "Retained WAL in inactive replication slots",
    type: "gauge",
    keyLabels: ["slot_name"],
    values: ["retained_wal"],
    sql: `SELECT slot_name, pg_catalog.pg_wal_lsn_diff(
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_lsn() END,
  restart_lsn)::pg_catalog.float8 AS retained_wal
FROM pg_catalog.pg_replication_slots WHERE active = false`,
  },
  {
    name: "wal_is_lost",
    help: "Whether or not the replication slot wal_status is lost",
    type: "gauge",
    keyLabels: ["slot_name"],
    values: ["wal_is_lost"],
    sql: "SELECT slot_name, CASE WHEN wal_status = 'lost' THEN 1 ELSE 0 END AS wal_is_lost FROM pg_catalog.pg_replication_slots",
  },
];

const setSql = new Map<number, string>();

/** All queries as one multi-statement string: one round trip, one snapshot of the statistics. */
export function postgresSetSql(caps: PgCapabilities): string {
  let sql = setSql.get(caps.major);
  if (sql === undefined) {
    sql = POSTGRES_SET.map((m) => metricSql(m, caps)).join(";\n");
    setSql.set(caps.major, sql);
  }
  return sql;
}

function toNumber(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = typeof v === "number" ? v : Number(v);
  return Number.isNaN(n) && v !== "NaN" ? null : n;
}

/** sql_exporter's row-to-sample rule for one metric. */
export function familyFromRows(m: SqlMetric, rows: readonly Record<string, unknown>[]): MetricFamily {
  const samples: Sample[] = [];
  for (const row of rows) {
    const keys: Record<string, string> = {};
    // An empty value is the same series as no label in Prometheus, and lints flag it: leave it out
    // (on vanilla Postgres, neon.timeline_id does not exist).
    for (const l of m.keyLabels)
      if (row[l] !== null && row[l] !== undefined && row[l] !== "") keys[l] = String(row[l]);
    for (const col of m.values) {
      const value = toNumber(row[col]);
      if (value === null) continue;
      samples.push({ labels: m.valueLabel ? { ...keys, [m.valueLabel]: col } : keys, value });
    }
  }
  return { name: m.name, help: m.help, type: m.type, samples };
}
