// The version suite for one PostgreSQL major, run by test/major-<N>.test.ts with the npm server
// binaries of that major (test/support/pg-majors.ts). One agent (`-b` on those binaries, the
// vm-monitor on) lives through a compute's life and is checked at every stage: a start that
// reconciles tricky names, the migrations, the exporter's two metric sets, the vm-monitor's
// cache resize, the grants and extensions routes, a live reconfiguration with delta operations,
// no ERROR in Postgres's log so far; then what a member of the privileged role may and may not
// do (docs/privileged-role.md, the same table is asserted here), a replica promoted where a
// pg_basebackup for this major exists (else the start names the missing tool), termination, and
// a restart from the template the first start cached. The exporter's Postgres set gets its full
// value checks against a server of this major too (postgres-set-suite.ts).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { POSTGRES_SET } from "../../src/exporter/postgres-set.js";
import { minimalSpec, type RunningAgent, startAgent } from "./agent.js";
import { waitFor } from "./exporter-harness.js";
import { FakeAutoscalerAgent } from "./fake-autoscaler-agent.js";
import { type Major, majorBinaries, systemClientServes } from "./pg-majors.js";
import { freePort } from "./ports.js";
import { tempDir } from "./postgres.js";
import { postgresSetSuite } from "./postgres-set-suite.js";
import { strictParse } from "./prometheus-strict.js";

const PRIV = "neon_superuser";
const GiB = 1024 * 1024 * 1024;
/** Names that break naive quoting; a subset of reconcile-tricky-names.test.ts, to keep a start short. */
const TRICKY = [
  "name with spaces",
  "'; SELECT pg_sleep(1000);",
  "🐘 emoji 🙂",
  `";with ';injections $$ $x$ $ %I !/\\&#@`,
  "UPPER Case",
  "percent %s %L %%",
];
const APP = "major app";
const APP_PASSWORD = "app-secret";
const md5 = (s: string) => createHash("md5").update(s).digest("hex");

function clusterFor(roles: unknown[], databases: unknown[]): Record<string, unknown> {
  return {
    roles,
    databases,
    postgresql_conf: [
      "listen_addresses = '127.0.0.1'",
      "fsync = off",
      "shared_buffers = 128MB",
      "max_connections = 50",
      "wal_level = logical",
      "shared_preload_libraries = 'pg_stat_statements'",
    ].join("\n"),
    settings: [],
  };
}

function startSpec(): Record<string, unknown> {
  const roles = [
    { name: APP, encrypted_password: md5(APP_PASSWORD + APP), options: null },
    ...TRICKY.map((name) => ({ name, encrypted_password: md5(`pw${name}`), options: null })),
  ];
  const databases = [
    { name: "appdb", owner: APP, options: null },
    ...TRICKY.map((name) => ({ name, owner: name, options: null })),
  ];
  return minimalSpec({ cluster: clusterFor(roles, databases) });
}

type Outcome = "ok" | "denied";

/**
 * What a member of the privileged role may do: statements run as a spec role that logged in
 * with its password, acting as the privileged role where docs/privileged-role.md says so.
 * `everywhere` holds on every major; `before16`/`from16` are the differences PostgreSQL itself
 * makes (CREATEROLE's reach before 16), documented in the same place.
 */
interface Power {
  sql: string;
  everywhere?: Outcome;
  before16?: Outcome;
  from16?: Outcome;
}

const other = '"name with spaces"';
const POWERS: Power[] = [
  // Inherited through membership, without SET ROLE.
  { sql: "SELECT count(*) FROM power_owned", everywhere: "ok" },
  { sql: "INSERT INTO power_owned VALUES (2)", everywhere: "ok" },
  { sql: "CREATE ROLE power_direct", everywhere: "denied" },
  { sql: "CREATE DATABASE power_direct", everywhere: "denied" },
  // Acting as the privileged role.
  { sql: `SET ROLE ${PRIV}`, everywhere: "ok" },
  {
    sql: "CREATE ROLE power_x LOGIN PASSWORD 'x' CONNECTION LIMIT 3 VALID UNTIL 'infinity'",
    everywhere: "ok",
  },
  { sql: "ALTER ROLE power_x PASSWORD 'y'", everywhere: "ok" },
  { sql: "ALTER ROLE power_x CREATEDB NOLOGIN CONNECTION LIMIT 5", everywhere: "ok" },
  { sql: "ALTER ROLE power_x RENAME TO power_y", everywhere: "ok" },
  { sql: `GRANT power_y TO ${PRIV}`, everywhere: "ok" },
  { sql: "GRANT pg_monitor TO power_y", everywhere: "ok" },
  { sql: "GRANT pg_signal_backend TO power_y", everywhere: "ok" },
  { sql: "CREATE DATABASE power_db OWNER power_y", everywhere: "ok" },
  { sql: "ALTER DATABASE power_db RENAME TO power_db2", everywhere: "ok" },
  { sql: "ALTER DATABASE power_db2 SET work_mem = '8MB'", everywhere: "ok" },
  { sql: "ALTER DATABASE power_db2 CONNECTION LIMIT 4", everywhere: "ok" },
  { sql: "DROP DATABASE power_db2", everywhere: "ok" },
  { sql: "CREATE DATABASE power_own", everywhere: "ok" },
  { sql: "DROP DATABASE power_own", everywhere: "ok" },
  { sql: `REVOKE power_y FROM ${PRIV}`, everywhere: "ok" },
  // Never, on any major.
  { sql: "CREATE ROLE power_su SUPERUSER", everywhere: "denied" },
  { sql: "ALTER ROLE power_y SUPERUSER", everywhere: "denied" },
  { sql: "ALTER ROLE postgres PASSWORD 'x'", everywhere: "denied" },
  { sql: `DROP DATABASE ${other}`, everywhere: "denied" },
  { sql: `ALTER DATABASE ${other} OWNER TO ${PRIV}`, everywhere: "denied" },
  { sql: "ALTER SYSTEM SET work_mem = '1MB'", everywhere: "denied" },
  { sql: "COPY (SELECT 1) TO PROGRAM 'true'", everywhere: "denied" },
  { sql: "SELECT pg_read_file('postgresql.conf')", everywhere: "denied" },
  { sql: `ALTER ROLE ${PRIV} NOCREATEROLE`, everywhere: "denied" },
  // Where PostgreSQL 14 and 15 differ from 16+ (CREATEROLE's reach, pg_create_subscription).
  { sql: `ALTER ROLE ${other} PASSWORD 'x'`, before16: "ok", from16: "denied" },
  { sql: "GRANT pg_execute_server_program TO power_y", before16: "ok", from16: "denied" },
  { sql: `GRANT ${PRIV} TO power_y`, before16: "ok", from16: "denied" },
  { sql: "ALTER ROLE power_y BYPASSRLS", before16: "denied", from16: "ok" },
  { sql: "ALTER ROLE power_y REPLICATION", before16: "denied", from16: "ok" },
  {
    sql: "CREATE SUBSCRIPTION power_sub CONNECTION 'host=/nonexistent dbname=x password=x' PUBLICATION p WITH (connect = false, slot_name = NONE)",
    before16: "denied",
    from16: "ok",
  },
  { sql: "DROP SUBSCRIPTION IF EXISTS power_sub", everywhere: "ok" },
  // Dropping what it created.
  { sql: "DROP ROLE power_y", everywhere: "ok" },
];

function expected(p: Power, major: number): Outcome {
  return p.everywhere ?? (major >= 16 ? p.from16 : p.before16) ?? "denied";
}

export function majorSuite(major: Major): void {
  const label = `PostgreSQL ${major}`;
  const binaries = majorBinaries(major);

  describe(`${label}: one compute through its life on the npm server binaries`, () => {
    let agent: RunningAgent;
    let vmPort: number;
    let root: string;
    let cacheDir: string;
    let cgroup: string;
    const extra: RunningAgent[] = [];
    /** ERROR lines the main compute's log is expected to have: the refusals of the powers test. */
    let expectedErrors = 0;
    /** Agent log entries from Postgres with severity ERROR. */
    const pgErrors = (a: RunningAgent) =>
      a.logEntries().filter((e) => e.component === "postgres" && e.pg_severity === "ERROR");

    before(async () => {
      root = tempDir("ccm-");
      cacheDir = path.join(root, "cache");
      cgroup = path.join(root, "neon-postgres");
      mkdirSync(cgroup);
      writeFileSync(path.join(cgroup, "memory.stat"), "anon 0\nactive_anon 1000\ninactive_anon 1000\n");
      writeFileSync(path.join(cgroup, "cgroup.procs"), "");
      vmPort = await freePort();
      agent = await startAgent({
        spec: startSpec(),
        args: [
          "-b",
          binaries.postgres,
          "--cache-dir",
          cacheDir,
          "--vm-monitor-addr",
          `127.0.0.1:${vmPort}`,
          "--cgroup",
          cgroup,
        ],
        env: { AUTOSCALING: "true" },
        name: `major-${major}`,
      });
      await agent.waitForStatus("running", 90_000);
    });

    after(async () => {
      await Promise.all([agent?.stop(), ...extra.map((a) => a.stop())]);
      rmSync(root, { recursive: true, force: true });
    });

    test(`${label}: starts on the npm binaries, and /info says which`, async () => {
      const info = (await (await agent.get("/info")).json()) as Record<string, unknown>;
      assert.match(String(info.pg_version), new RegExp(`^${major}\\.\\d+$`));
      assert.equal(info.pg_binary, binaries.postgres);
      assert.equal(info.pg_binaries_source, "--pgbin");
      const [{ v }] = await agent.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
      assert.equal(Math.floor(Number(v) / 10000), major);
    });

    test(`${label}: reconciled tricky names; every role logs in to the database it owns`, async () => {
      const dbs = await agent.query<{ datname: string; owner: string }>(
        "SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = ANY($1)",
        [TRICKY],
      );
      assert.deepEqual(dbs.map((d) => d.datname).sort(), [...TRICKY].sort());
      assert.ok(dbs.every((d) => d.owner === d.datname));
      for (const name of TRICKY) {
        const c = new pg.Client({
          host: "127.0.0.1",
          port: agent.pgPort,
          user: name,
          password: "pw",
          database: name,
        });
        await c.connect();
        try {
          const { rows } = await c.query("SELECT current_database() AS db, current_user AS u");
          assert.deepEqual(rows[0], { db: name, u: name });
        } finally {
          await c.end();
        }
      }
      // pg_stat_statements was created because it is preloaded (contrib of this build works).
      const ext = await agent.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'");
      assert.equal(ext.length, 1);
    });

    test(`${label}: migrations ran, granting the privileged role what this major has`, async () => {
      await waitFor(
        "migrations",
        async () => {
          const r = await agent.query<{ id: string }>(
            "SELECT id FROM neon_migration.migration_id WHERE key = 0",
          );
          return Number(r[0]?.id) === 12;
        },
        30_000,
        100,
      );
      const [r] = await agent.query<Record<string, boolean | null>>(
        `SELECT rolbypassrls AS bypassrls,
                pg_has_role($1, 'pg_monitor', 'USAGE WITH ADMIN OPTION') AS monitor_admin,
                pg_has_role($1, 'pg_signal_backend', 'USAGE WITH ADMIN OPTION') AS signal_admin,
                (SELECT pg_has_role($1, oid, 'MEMBER') FROM pg_roles WHERE rolname = 'pg_create_subscription') AS create_subscription,
                (SELECT has_function_privilege($1, oid, 'EXECUTE') FROM pg_proc WHERE proname = 'pg_log_standby_snapshot') AS standby_snapshot
           FROM pg_roles WHERE rolname = $1`,
        [PRIV],
      );
      assert.deepEqual(r, {
        bypassrls: true,
        monitor_admin: true,
        signal_admin: true,
        // pg_create_subscription and pg_log_standby_snapshot exist from 16 on.
        create_subscription: major >= 16 ? true : null,
        standby_snapshot: major >= 16 ? true : null,
      });
    });

    test(`${label}: the exporter's two sets: every family present, none erroring`, async () => {
      await agent.query("SELECT pg_create_logical_replication_slot('major_slot', 'pgoutput')");
      await agent.query("CREATE PUBLICATION major_pub FOR ALL TABLES", [], "appdb");
      await agent.query(
        `CREATE SUBSCRIPTION major_sub CONNECTION 'host=/nonexistent dbname=appdb' PUBLICATION major_pub
           WITH (connect = false, slot_name = NONE, enabled = false)`,
        [],
        "appdb",
      );
      await agent.query("CHECKPOINT");
      const fams = await waitFor(
        "every Postgres-set family with samples",
        async () => {
          const f = strictParse(await (await agent.get("/metrics")).text());
          return POSTGRES_SET.every((m) => (f.get(m.name)?.samples.length ?? 0) > 0) &&
            (f.get("checkpoints_req")?.samples[0]?.value ?? 0) >= 1
            ? f
            : null;
        },
        30_000,
        200,
      );
      for (const m of POSTGRES_SET) assert.equal(fams.get(m.name)?.type, m.type, m.name);
      const errors = (fams.get("compute_exporter_errors_total")?.samples ?? []).filter((s) => s.value > 0);
      assert.deepEqual(errors, [], "no collection or query of either set failed");
      const [ckpt] = await agent.query<{ req: string }>(
        major >= 17
          ? "SELECT num_requested AS req FROM pg_stat_checkpointer"
          : "SELECT checkpoints_req AS req FROM pg_stat_bgwriter",
      );
      const req = fams.get("checkpoints_req")?.samples[0]?.value ?? -1;
      assert.ok(req >= 1 && req <= Number(ckpt.req), `checkpoints_req ${req} from this major's view`);
      assert.equal(fams.get("compute_max_connections")?.samples[0]?.value, 50);
      assert.equal(
        fams.get("compute_subscriptions_count")?.samples.find((s) => s.labels.enabled === "false")?.value,
        1,
      );

      const auto = strictParse(await (await agent.get("/autoscaling_metrics")).text());
      assert.equal(auto.get("lfc_cache_size_limit")?.samples[0]?.value, 128 * 1024 * 1024);
      assert.ok((auto.get("lfc_hits")?.samples[0]?.value ?? 0) > 0, "buffer hits counted");
      assert.equal(auto.get("lfc_approximate_working_set_size_windows")?.samples.length, 60);
      await agent.query("SELECT pg_drop_replication_slot('major_slot')");
    });

    test(`${label}: the vm-monitor resizes the cache on an upscale`, async () => {
      const fake = await waitFor(
        "the vm-monitor",
        () => FakeAutoscalerAgent.connect(`ws://127.0.0.1:${vmPort}/monitor`),
        20_000,
        100,
      );
      try {
        // 2 GiB granted: usable 1948 MiB -> cache 1461 MiB, plus shared_buffers (128 MiB).
        assert.equal(
          (await fake.upscaleNotification({ cpu: 0.5, mem: 2 * GiB })).type,
          "UpscaleConfirmation",
        );
        await waitFor(
          "effective_cache_size",
          async () =>
            (await agent.query<{ effective_cache_size: string }>("SHOW effective_cache_size"))[0]
              ?.effective_cache_size === `${128 + 1461}MB`,
          10_000,
          50,
        );
        assert.deepEqual(fake.violations, []);
      } finally {
        await fake.close();
      }
    });

    test(`${label}: grants and extensions routes`, async () => {
      await agent.query(`CREATE SCHEMA "major schema"`, [], "appdb");
      const grant = { database: "appdb", schema: "major schema", privileges: ["USAGE", "CREATE"], role: APP };
      const g = await fetch(`${agent.internalUrl}/grants`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(grant),
      });
      assert.equal(g.status, 201, await g.clone().text());
      const [has] = await agent.query<{ ok: boolean }>(
        "SELECT has_schema_privilege($1, 'major schema', 'USAGE') AND has_schema_privilege($1, 'major schema', 'CREATE') AS ok",
        [APP],
        "appdb",
      );
      assert.equal(has.ok, true);
      // hstore 1.7 -> its default version: the create and the update path of this major's contrib.
      const [{ v }] = await agent.query<{ v: string }>(
        "SELECT default_version AS v FROM pg_available_extensions WHERE name = 'hstore'",
      );
      for (const version of ["1.7", v]) {
        const r = await fetch(`${agent.internalUrl}/extensions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ extension: "hstore", database: "appdb", version }),
        });
        assert.equal(r.status, 201, await r.clone().text());
        const [e] = await agent.query<{ extversion: string }>(
          "SELECT extversion FROM pg_extension WHERE extname = 'hstore'",
          [],
          "appdb",
        );
        assert.equal(e.extversion, version);
      }
    });

    if (systemClientServes(major, "pg_dump")) {
      test(`${label}: /database_schema dumps with a system pg_dump of this major or newer`, async () => {
        const res = await agent.get("/database_schema?database=appdb");
        assert.equal(res.status, 200);
        const dump = await res.text();
        assert.match(dump, /CREATE SCHEMA "major schema";/);
        assert.match(dump, /PostgreSQL database dump complete/);
      });
    } else {
      test(`${label}: /database_schema names the missing pg_dump (no client for this major here)`, async () => {
        const res = await agent.get("/database_schema?database=appdb");
        assert.equal(res.status, 500);
        assert.match(
          await res.text(),
          new RegExp(
            `pg_dump is needed but not installed: .*npm package ships only initdb, postgres and pg_ctl.*no PostgreSQL ${major} or newer client`,
          ),
        );
      });
    }

    test(`${label}: a live reconfiguration applies delta operations`, async () => {
      const [renamedRole, deletedRole] = [TRICKY[4], TRICKY[5]];
      const spec = startSpec();
      const cluster = spec.cluster as {
        roles: { name: string }[];
        databases: { name: string; owner: string }[];
      };
      cluster.roles = cluster.roles
        .filter((r) => r.name !== deletedRole)
        .map((r) => (r.name === renamedRole ? { ...r, name: "renamed role" } : r));
      cluster.roles.push({ name: "added role", encrypted_password: null, options: null } as never);
      cluster.databases = cluster.databases
        .filter((d) => d.name !== deletedRole && d.name !== renamedRole)
        .concat([
          { name: "renamed db", owner: "renamed role", options: null } as never,
          { name: "added db", owner: "added role", options: null } as never,
        ]);
      spec.delta_operations = [
        { action: "rename_role", name: renamedRole, new_name: "renamed role" },
        { action: "rename_db", name: renamedRole, new_name: "renamed db" },
        { action: "delete_db", name: deletedRole, new_name: null },
        { action: "delete_role", name: deletedRole, new_name: null },
      ];
      const res = await agent.post("/configure", { spec, compute_ctl_config: { jwks: { keys: [] } } });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await agent.status()).status, "running");
      const roles = (
        await agent.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname = ANY($1)", [
          [renamedRole, deletedRole, "renamed role", "added role"],
        ])
      ).map((r) => r.rolname);
      assert.deepEqual(roles.sort(), ["added role", "renamed role"]);
      const dbs = await agent.query<{ datname: string; owner: string }>(
        "SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = ANY($1) ORDER BY 1",
        [[renamedRole, deletedRole, "renamed db", "added db"]],
      );
      assert.deepEqual(dbs, [
        { datname: "added db", owner: "added role" },
        { datname: "renamed db", owner: "renamed role" },
      ]);
    });

    test(`${label}: no ERROR in Postgres's log during the normal run so far`, () => {
      assert.deepEqual(
        pgErrors(agent).map((e) => e.msg),
        [],
      );
    });

    test(`${label}: a member of the privileged role may do what docs/privileged-role.md says, and no more`, async () => {
      await agent.query("CREATE TABLE power_owned (id int)", [], "appdb");
      const before = pgErrors(agent).length;
      const c = new pg.Client({
        host: "127.0.0.1",
        port: agent.pgPort,
        user: APP,
        password: APP_PASSWORD,
        database: "appdb",
      });
      await c.connect();
      const got: string[] = [];
      const want: string[] = [];
      try {
        for (const p of POWERS) {
          let outcome: Outcome = "ok";
          try {
            await c.query(p.sql);
          } catch (err) {
            // Only a permission refusal counts as "denied"; any other error fails the test.
            assert.equal((err as { code?: string }).code, "42501", `${p.sql}: ${(err as Error).message}`);
            outcome = "denied";
          }
          got.push(`${outcome}: ${p.sql}`);
          want.push(`${expected(p, major)}: ${p.sql}`);
        }
      } finally {
        await c.end();
      }
      assert.deepEqual(got, want);
      expectedErrors = before + want.filter((w) => w.startsWith("denied")).length;
      await waitFor("the refusals in Postgres's log", () => pgErrors(agent).length === expectedErrors, 5_000);
    });

    if (systemClientServes(major, "pg_basebackup")) {
      test(`${label}: a replica from a base backup (system pg_basebackup) follows, then promotes`, async () => {
        await agent.query("CREATE TABLE replicated (id int PRIMARY KEY)", [], "appdb");
        await agent.query("INSERT INTO replicated SELECT generate_series(1, 10)", [], "appdb");
        const replica = await startAgent({
          spec: replicaSpec({ mode: "Replica", source: { kind: "primary", connstring: agent.connstr } }),
          args: ["-b", binaries.postgres, "--no-template-cache", "--no-exporter"],
          name: `major-${major}-replica`,
        });
        extra.push(replica);
        await replica.waitForStatus("running", 60_000);
        await agent.query("INSERT INTO replicated VALUES (100)", [], "appdb");
        await waitFor(
          "the row on the replica",
          async () =>
            (await replica.query("SELECT 1 FROM replicated WHERE id = 100", [], "appdb")).length === 1,
          10_000,
        );
        const [{ lsn }] = await agent.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn");
        const res = await replica.post("/promote", {
          spec: replicaSpec({ mode: "Primary", source: { kind: "primary", connstring: agent.connstr } }),
          wal_flush_lsn: lsn,
        });
        assert.equal(res.status, 200, await res.clone().text());
        assert.equal(((await res.json()) as { status: string }).status, "completed");
        await replica.query("INSERT INTO replicated VALUES (200)", [], "appdb");
        assert.deepEqual(
          pgErrors(replica).map((e) => e.msg),
          [],
        );
      });
    } else {
      test(`${label}: a replica start names the missing pg_basebackup (no client for this major here)`, async () => {
        const replica = await startAgent({
          spec: replicaSpec({ mode: "Replica", source: { kind: "primary", connstring: agent.connstr } }),
          args: ["-b", binaries.postgres, "--no-template-cache", "--no-exporter"],
          name: `major-${major}-replica`,
        });
        extra.push(replica);
        const s = await replica.waitForStatus("failed", 60_000);
        assert.match(
          String(s.error),
          new RegExp(`pg_basebackup is needed but not installed: .*no PostgreSQL ${major} or newer client`),
        );
      });
    }

    test(`${label}: terminates, and a restart copies the template its first start cached`, async () => {
      const res = await agent.post("/terminate?mode=fast");
      assert.equal(res.status, 200, await res.clone().text());
      assert.deepEqual(await agent.exited, { code: 0, signal: null });
      assert.equal(pgErrors(agent).length, expectedErrors, "no ERROR besides the refused statements");
      const templates = readdirSync(cacheDir).filter((d) => d.startsWith("initdb-"));
      assert.equal(templates.length, 1, "one template for this major's build");
      const manifest = JSON.parse(readFileSync(path.join(cacheDir, templates[0], "manifest.json"), "utf8"));
      assert.match(manifest.postgresVersion, new RegExp(`\\(PostgreSQL\\) ${major}\\.`));

      const again = await startAgent({
        spec: minimalSpec(),
        args: ["-b", binaries.postgres, "--cache-dir", cacheDir, "--no-exporter"],
        name: `major-${major}-restart`,
      });
      extra.push(again);
      await again.waitForStatus("running", 60_000);
      // Copied by the start, or by the launch's head start beside -D and renamed into place.
      const fromTemplate = new Set([
        "data directory copied from template",
        "data directory staged from the template",
      ]);
      assert.ok(
        again.logEntries().some((e) => fromTemplate.has(String(e.msg))),
        "the restart used the cached template",
      );
      assert.deepEqual(
        pgErrors(again).map((e) => e.msg),
        [],
      );
    });
  });

  postgresSetSuite({ label, binaries });
}

/** A hot standby needs max_connections >= the primary's. */
function replicaSpec(extra: Record<string, unknown>): Record<string, unknown> {
  const spec = minimalSpec(extra);
  (spec.cluster as { settings: unknown[] }).settings = [
    { name: "max_connections", value: "50", vartype: "integer" },
  ];
  return spec;
}
