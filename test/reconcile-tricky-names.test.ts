// Spec apply against real Postgres with Neon's tricky names: create, re-apply without DDL, then
// delete everything (objects, grants by other roles, a live logical subscription) and repeat.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { pino } from "pino";
import { type ReconcileReport, reconcileSpec } from "../src/reconcile/index.js";
import type { ComputeSpecJson, DeltaOp } from "../src/spec/types.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";
import { specJson } from "./support/spec-json.js";

const log = pino({ level: "silent" });
const PRIV = "neon_superuser";
const HASH = "6b1d16b78004bbd51fa06af9eda75972";

const TRICKY = [
  "name with spaces",
  "tab\tname",
  "%20",
  "'; SELECT pg_sleep(1000);",
  "#",
  "&",
  "=",
  "🐘 emoji 🙂",
  `";with ';injections $$ $x$ $ %I !/\\&#@`,
  '"quoted"',
  "'single quoted'",
  "role$",
  "role$$",
  "$x$",
  "xx$",
  "a".repeat(63),
  `${"ж".repeat(31)}x`, // 63 bytes
  "UPPER Case",
  "back\\slash",
  "semi;colon",
  "line\nbreak",
  "percent %s %L %%",
];

function spec(names: string[], deltas: DeltaOp[] | null = null): ComputeSpecJson {
  return specJson(
    {
      roles: names.map((name) => ({ name, encrypted_password: HASH, options: null })),
      databases: names.map((name) => ({ name, owner: name, options: null })),
    },
    { delta_operations: deltas },
  );
}

const DDL = /^\s*(CREATE|ALTER|DROP|GRANT|REVOKE|REASSIGN|DO|COMMENT|SECURITY)\b/i;

describe("reconcile with tricky names", () => {
  let target: TestPostgres;
  let publisher: TestPostgres;
  const apply = (s: ComputeSpecJson): Promise<ReconcileReport> =>
    reconcileSpec({
      target: { connstr: target.connstr() },
      spec: s,
      privilegedRole: PRIV,
      concurrency: 4,
      log,
    });

  before(async () => {
    [target, publisher] = await Promise.all([
      startTestPostgres({ settings: { shared_preload_libraries: "pg_stat_statements" } }),
      startTestPostgres({ settings: { wal_level: "logical" } }),
    ]);
  });
  after(async () => {
    await Promise.all([target?.stop(), publisher?.stop()]);
  });

  it("creates every role and database under its exact name, each connectable by its owner", async () => {
    assert.ok(TRICKY.length >= 20);
    const report = await apply(spec(TRICKY));
    assert.ok(report.statements.length > 2 * TRICKY.length);
    assert.ok(
      report.statements.every((s) => !s.includes(HASH)),
      "password hashes are redacted",
    );

    const roles = await target.query<{ rolname: string; rolpassword: string; member: boolean }>(
      `SELECT rolname, rolpassword, pg_has_role(rolname, $2, 'member') AS member
         FROM pg_authid WHERE rolname = ANY($1)`,
      [TRICKY, PRIV],
    );
    assert.deepEqual(roles.map((r) => r.rolname).sort(), [...TRICKY].sort());
    assert.ok(roles.every((r) => r.rolpassword === `md5${HASH}` && r.member));
    const dbs = await target.query<{ datname: string; owner: string }>(
      "SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = ANY($1)",
      [TRICKY],
    );
    assert.deepEqual(dbs.map((d) => d.datname).sort(), [...TRICKY].sort());
    assert.ok(dbs.every((d) => d.owner === d.datname));

    for (const name of TRICKY) {
      const c = new pg.Client({ host: target.socketDir, port: target.port, user: name, database: name });
      await c.connect();
      try {
        const { rows } = await c.query("SELECT current_database() AS db, current_user AS u");
        assert.deepEqual(rows[0], { db: name, u: name });
      } finally {
        await c.end();
      }
    }
  });

  it("re-applies the unchanged spec without any DDL", async () => {
    await target.query("SELECT pg_stat_statements_reset()");
    const report = await apply(spec(TRICKY));
    assert.deepEqual(report.statements, []);
    assert.deepEqual(report.phases, []);
    const seen = await target.query<{ query: string }>("SELECT query FROM pg_stat_statements");
    assert.deepEqual(
      seen.map((r) => r.query).filter((q) => DDL.test(q)),
      [],
    );
  });

  it("deletes everything, including objects, grants made by other roles and a live subscription", async () => {
    const [owner, holder, subDb] = [TRICKY[0], TRICKY[1], TRICKY[3]];
    // A role that stays: it got SELECT WITH GRANT OPTION from the table owner and passed it on
    // to `holder`. DROP OWNED BY only revokes the owner's grants, so this one needs a revoke as
    // the grantor itself.
    const grantor = 'keeper "grantor"';
    // In the system database, which survives: `owner` owns a schema and a table.
    const q = (sql: string) => target.query(sql);
    const id = (s: string) => `"${s.replaceAll('"', '""')}"`;
    await q(`CREATE ROLE ${id(grantor)}`);
    await q(`CREATE SCHEMA owned AUTHORIZATION ${id(owner)}`);
    await q(`CREATE TABLE owned.t (id int)`);
    await q(`ALTER TABLE owned.t OWNER TO ${id(owner)}`);
    await q("CREATE TABLE public.shared (id int)");
    await q(`GRANT USAGE ON SCHEMA owned TO ${id(holder)}`);
    await q(`GRANT SELECT ON public.shared TO ${id(grantor)} WITH GRANT OPTION`);
    await q(`SET ROLE ${id(grantor)}; GRANT SELECT ON public.shared TO ${id(holder)}; RESET ROLE`);
    const acl = await target.query<{ grantor: string }>(
      `SELECT g.rolname AS grantor FROM pg_class c, aclexplode(c.relacl) a JOIN pg_roles g ON g.oid = a.grantor
        WHERE c.oid = 'public.shared'::regclass AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
      [holder],
    );
    assert.deepEqual(acl, [{ grantor }], "holder's grant was made by a role other than the owner");

    // A live logical subscription in one of the databases to delete.
    await publisher.query(
      "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1); CREATE PUBLICATION pub FOR TABLE t",
    );
    await target.query("CREATE TABLE t (id int PRIMARY KEY)", [], subDb);
    await target.query(
      `CREATE SUBSCRIPTION live_sub CONNECTION 'host=${publisher.socketDir} port=${publisher.port} dbname=postgres user=postgres' PUBLICATION pub`,
      [],
      subDb,
    );
    const deadline = Date.now() + 60_000;
    while ((await target.query("SELECT 1 FROM t", [], subDb)).length === 0) {
      assert.ok(Date.now() < deadline, "subscription did not replicate in 60 s");
      await new Promise((r) => setTimeout(r, 100));
    }

    const deltas: DeltaOp[] = [
      ...TRICKY.map((name) => ({ action: "delete_db" as const, name, new_name: null })),
      { action: "delete_db", name: "nonexistent_db", new_name: null },
      ...TRICKY.map((name) => ({ action: "delete_role" as const, name, new_name: null })),
      { action: "delete_role", name: "nonexistent_role", new_name: null },
    ];
    const empty = spec([], deltas);
    const report = await apply(empty);
    assert.ok(report.statements.some((s) => s.startsWith("DROP SUBSCRIPTION")));

    assert.deepEqual(
      await target.query("SELECT rolname FROM pg_roles WHERE rolname = ANY($1)", [TRICKY]),
      [],
    );
    assert.deepEqual(
      await target.query("SELECT datname FROM pg_database WHERE datname = ANY($1)", [TRICKY]),
      [],
    );
    assert.deepEqual(await target.query("SELECT subname FROM pg_subscription"), []);
    // The role that made the grant keeps its own privilege.
    assert.deepEqual(
      await target.query(
        "SELECT has_table_privilege($1, 'public.shared', 'SELECT WITH GRANT OPTION') AS ok",
        [grantor],
      ),
      [{ ok: true }],
    );
    // The deleted role's objects in the surviving database went to that database's owner.
    assert.deepEqual(
      await target.query(
        "SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'owned.t'::regclass",
      ),
      [{ owner: "postgres" }],
    );
    // The publisher is intact: its slot is still there for whoever owns it to drop.
    assert.deepEqual(await publisher.query("SELECT slot_name FROM pg_replication_slots"), [
      { slot_name: "live_sub" },
    ]);
    assert.deepEqual(await publisher.query("SELECT id FROM t"), [{ id: 1 }]);

    const again = await apply(empty);
    assert.deepEqual(again.statements, [], "repeating the delta list is a no-op");
  });
});
