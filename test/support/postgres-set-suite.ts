// The Postgres set on /metrics after a small workload, for one server build: every family of
// Neon's main collector appears, under Neon's names and labels, with values that match what
// Postgres itself reports (connection counts = pg_stat_activity, sizes = pg_database_size, slot
// positions = pg_replication_slots, checkpoints = the view that major keeps them in, ...). A role
// without a privilege loses one metric, not all. Run for the system Postgres
// (test/exporter-postgres-set.test.ts) and for each major of the matrix (test/major-*.test.ts).
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import type pg from "pg";
import { pino } from "pino";
import { POSTGRES_SET } from "../../src/exporter/postgres-set.js";
import { type ExporterHandle, startExporter } from "../../src/exporter-host/exporter-supervisor.js";
import type { PgBinaries } from "../../src/postgres/binaries.js";
import { curlSocket, waitFor } from "./exporter-harness.js";
import { pgOsUser, startTestPostgres, type TestPostgres, tempDir } from "./postgres.js";
import { type StrictFamily, strictParse } from "./prometheus-strict.js";

export interface PostgresSetSuiteOptions {
  /** Names the suite, e.g. "PostgreSQL 17". */
  label: string;
  /** Server binaries (default: the system's). */
  binaries?: PgBinaries;
}

export function postgresSetSuite({ label, binaries }: PostgresSetSuiteOptions): void {
  describe(`${label}: the exporter's Postgres set`, () => {
    let pgsrv: TestPostgres;
    let major = 0;
    let exporter: ExporterHandle;
    const idle: pg.Client[] = [];
    const dirs: string[] = [];

    function socketDir(prefix: string): string {
      const d = tempDir(prefix);
      dirs.push(d);
      return d;
    }

    async function families(handle = exporter): Promise<Map<string, StrictFamily>> {
      const r = await curlSocket(handle.socketPath, "/metrics");
      assert.equal(r.status, 200);
      return strictParse(r.body);
    }

    function value(
      fams: Map<string, StrictFamily>,
      name: string,
      labels: Record<string, string> = {},
    ): number {
      const f = fams.get(name);
      assert.ok(f, `family ${name} present`);
      const s = f.samples.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
      assert.ok(s, `${name}${JSON.stringify(labels)} present`);
      return s.value;
    }

    before(async () => {
      pgsrv = await startTestPostgres({ settings: { wal_level: "logical", autovacuum: "off" }, binaries });
      await pgsrv.query("CREATE DATABASE appdb");
      await pgsrv.query(
        `CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, 'v' FROM generate_series(1, 500) g;
         UPDATE t SET v = 'w' WHERE id <= 100;
         DELETE FROM t WHERE id > 450;
         CREATE PUBLICATION p FOR TABLE t`,
        undefined,
        "appdb",
      );
      await pgsrv.query("SELECT pg_create_logical_replication_slot('exp_slot', 'pgoutput')");
      await pgsrv.query(
        `CREATE SUBSCRIPTION s CONNECTION 'host=/nonexistent dbname=appdb' PUBLICATION p
           WITH (connect = false, slot_name = NONE, enabled = false)`,
      );
      await pgsrv.query("CREATE TABLE wal_maker AS SELECT g FROM generate_series(1, 10000) g; CHECKPOINT");
      // Sessions to count: three idle ones and one idle in a transaction, all in appdb.
      for (let i = 0; i < 4; i++) idle.push(await pgsrv.client("appdb"));
      await idle[3].query("BEGIN; SELECT 1");
      major = Math.floor(
        Number((await pgsrv.query("SHOW server_version_num"))[0].server_version_num) / 10000,
      );
      exporter = startExporter({
        pgdata: socketDir("cct-exps-"),
        connstr: pgsrv.connstr(),
        log: pino({ level: "silent" }),
        socketOwner: pgOsUser,
        stateFile: null,
        timings: { ttlMs: 100 },
      });
      await waitFor("the exporter", async () => (await families()).has("db_total_size"), 20_000, 100);
    });

    after(async () => {
      for (const c of idle) await c.end().catch(() => {});
      await exporter?.stop();
      await pgsrv?.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    test(`${label}: every computable family of Neon's main collector appears, strictly valid`, async () => {
      const fams = await families();
      for (const m of POSTGRES_SET) {
        const f = fams.get(m.name);
        assert.ok(f && f.samples.length > 0, `${m.name} has samples`);
        assert.equal(f.type, m.type);
        assert.equal(f.help, m.help);
        for (const s of f.samples) {
          // A key label whose value is empty is left out (neon.timeline_id on vanilla Postgres).
          const expected = [...m.keyLabels, ...(m.valueLabel ? [m.valueLabel] : [])];
          assert.deepEqual(
            Object.keys(s.labels),
            expected.filter((l) => l in s.labels),
            m.name,
          );
          assert.ok(
            Object.values(s.labels).every((v) => v !== ""),
            `${m.name}: no empty label value`,
          );
          assert.ok(
            m.keyLabels.filter((l) => !(l in s.labels)).every((l) => l === "timeline_id"),
            `${m.name}: only timeline_id may be absent here`,
          );
        }
      }
    });

    test(`${label}: values match what Postgres reports`, async () => {
      const fams = await families();
      const q = async <T extends pg.QueryResultRow>(sql: string) => (await pgsrv.query<T>(sql))[0];

      assert.equal(value(fams, "connection_counts", { datname: "appdb", state: "idle" }), 3);
      assert.equal(value(fams, "connection_counts", { datname: "appdb", state: "idle in transaction" }), 1);
      const act = await q<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = 'appdb' AND state = 'idle'",
      );
      assert.equal(act.n, 3);

      const sizes = await q<{ app: string; total: string }>(
        "SELECT pg_database_size('appdb') AS app, (SELECT sum(pg_database_size(datname)) FROM pg_database WHERE datconnlimit <> -2) AS total",
      );
      assert.equal(value(fams, "pg_stats_userdb", { datname: "appdb", kind: "db_size" }), Number(sizes.app));
      assert.ok(Math.abs(value(fams, "db_total_size") - Number(sizes.total)) <= Number(sizes.total) * 0.01);
      assert.ok(value(fams, "pg_stats_userdb", { datname: "appdb", kind: "inserted" }) >= 500);
      assert.ok(value(fams, "pg_stats_userdb", { datname: "appdb", kind: "updated" }) >= 100);
      assert.ok(value(fams, "pg_stats_userdb", { datname: "appdb", kind: "deleted" }) >= 50);
      assert.equal(value(fams, "pg_stats_userdb", { datname: "appdb", kind: "deadlocks" }), 0);
      assert.ok(
        !fams.get("pg_stats_userdb")?.samples.some((s) => s.labels.datname === "postgres"),
        "postgres db excluded",
      );

      const maxConn = await q<{ m: string }>("SELECT current_setting('max_connections') AS m");
      assert.equal(value(fams, "compute_max_connections"), Number(maxConn.m));
      // The counters come from the view this major keeps them in (17: pg_stat_checkpointer).
      const ckpt = await q<{ req: string; timed: string }>(
        major >= 17
          ? "SELECT num_requested AS req, num_timed AS timed FROM pg_stat_checkpointer"
          : "SELECT checkpoints_req AS req, checkpoints_timed AS timed FROM pg_stat_bgwriter",
      );
      assert.ok(value(fams, "checkpoints_req") >= 1, "the CHECKPOINT counted");
      assert.ok(value(fams, "checkpoints_req") <= Number(ckpt.req));
      assert.ok(value(fams, "checkpoints_timed") <= Number(ckpt.timed));

      const lsn = await q<{ cur: number; restart: number; retained: number }>(
        `SELECT (pg_current_wal_lsn() - '0/0')::float8 AS cur, (restart_lsn - '0/0')::float8 AS restart,
           pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 AS retained
         FROM pg_replication_slots WHERE slot_name = 'exp_slot'`,
      );
      const current = value(fams, "compute_current_lsn");
      assert.ok(current > 0 && current <= lsn.cur, `current LSN ${current} <= ${lsn.cur}`);
      assert.equal(value(fams, "compute_receive_lsn"), 0, "a primary receives nothing");
      assert.equal(value(fams, "replication_delay_bytes"), 0);
      assert.equal(value(fams, "replication_delay_seconds"), 0);
      assert.equal(value(fams, "logical_slot_restart_lsn", { slot_name: "exp_slot" }), lsn.restart);
      const retained = value(fams, "retained_wal", { slot_name: "exp_slot" });
      assert.ok(retained > 0 && retained <= lsn.retained, `retained ${retained} <= ${lsn.retained}`);
      assert.equal(value(fams, "wal_is_lost", { slot_name: "exp_slot" }), 0);
      assert.equal(value(fams, "compute_subscriptions_count", { enabled: "false" }), 1);

      const ages = await q<{ xid: number; mxid: number }>(
        "SELECT age(datfrozenxid) AS xid, mxid_age(datminmxid) AS mxid FROM pg_database WHERE datname = 'appdb'",
      );
      const xidAge = value(fams, "compute_pg_oldest_frozen_xid_age", {
        database_name: "appdb",
        metric: "frozen_xid_age",
      });
      assert.ok(xidAge > 0 && xidAge <= ages.xid, `frozen xid age ${xidAge} vs ${ages.xid}`);
      assert.equal(
        value(fams, "compute_pg_oldest_mxid_age", { database_name: "appdb", metric: "min_mxid_age" }),
        ages.mxid,
      );

      const snaps = await q<{ files: number; bytes: string }>(
        `SELECT count(*)::int AS files, COALESCE(sum((pg_stat_file('pg_logical/snapshots/' || name, true)).size), 0) AS bytes
           FROM pg_ls_dir('pg_logical/snapshots') AS name WHERE name LIKE '%.snap'`,
      );
      // No neon.timeline_id on vanilla Postgres: the label is left out, not empty.
      assert.equal(value(fams, "compute_logical_snapshot_files", {}), snaps.files);
      assert.equal(value(fams, "compute_logical_snapshots_bytes", {}), Number(snaps.bytes));
      assert.deepEqual(fams.get("compute_logical_snapshot_files")?.samples[0].labels, {});
    });

    test(`${label}: a role lacking a privilege loses only that metric; the miss is counted`, async () => {
      await pgsrv.query("CREATE ROLE exp_monitor LOGIN IN ROLE pg_monitor");
      const limited = startExporter({
        pgdata: socketDir("cct-expl-"),
        connstr: pgsrv.connstr("postgres", "exp_monitor"),
        log: pino({ level: "silent" }),
        socketOwner: pgOsUser,
        stateFile: null,
      });
      try {
        // pg_ls_dir needs superuser or an explicit grant; pg_ls_logicalsnapdir (15+) is granted to
        // pg_monitor, so on 14, whose query is pg_ls_dir-based, the bytes are lost too.
        const fams = await waitFor(
          "the limited exporter",
          async () => {
            const f = await families(limited);
            return f.has("db_total_size") ? f : null;
          },
          20_000,
          100,
        );
        assert.ok(!fams.has("compute_logical_snapshot_files"));
        assert.equal(fams.has("compute_logical_snapshots_bytes"), major >= 15);
        assert.ok(fams.has("connection_counts"));
        assert.ok(
          value(fams, "compute_exporter_errors_total", {
            collection: "postgres:compute_logical_snapshot_files",
            kind: "query",
          }) >= 1,
        );
        assert.equal(value(fams, "compute_exporter_up"), 1, "the autoscaling set is unaffected");
      } finally {
        await limited.stop();
      }
    });
  });
}
