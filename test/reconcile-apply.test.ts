// Spec apply against real Postgres: failures name the object, hostile per-database settings do
// not break a later apply, the privileged role is exactly as specified, and roles are altered
// only when their password or options really changed.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { connect } from "../src/postgres/connection.js";
import { ReconcileError, type ReconcileReport, reconcileSpec } from "../src/reconcile/index.js";
import type { ComputeSpecJson, Database, DeltaOp, Role } from "../src/spec/types.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";
import { specJson } from "./support/spec-json.js";

const log = pino({ level: "silent" });
const PRIV = "my_superuser";
const HASH = "6b1d16b78004bbd51fa06af9eda75972";
const HASH2 = "0123456789abcdef0123456789abcdef";

function spec(roles: Role[], databases: Database[], deltas: DeltaOp[] | null = null): ComputeSpecJson {
  return specJson({ roles, databases }, { delta_operations: deltas });
}

describe("reconcile apply", () => {
  let target: TestPostgres;
  const apply = (s: ComputeSpecJson): Promise<ReconcileReport> =>
    reconcileSpec({
      target: { connstr: target.connstr() },
      spec: s,
      privilegedRole: PRIV,
      concurrency: 3,
      log,
    });

  before(async () => {
    target = await startTestPostgres();
  });
  after(async () => {
    await target?.stop();
  });

  it("gives the privileged role exactly its attributes and memberships", async () => {
    await apply(spec([{ name: "app", encrypted_password: null, options: null }], []));
    const [attrs] = await target.query(
      `SELECT rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolconnlimit, rolbypassrls
         FROM pg_roles WHERE rolname = $1`,
      [PRIV],
    );
    assert.deepEqual(attrs, {
      rolsuper: false,
      rolinherit: true,
      rolcreaterole: true,
      rolcreatedb: true,
      rolcanlogin: false,
      rolreplication: true,
      rolconnlimit: -1,
      rolbypassrls: true,
    });
    const members = await target.query<{ role: string; admin_option: boolean }>(
      `SELECT r.rolname AS role, m.admin_option FROM pg_auth_members m
         JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
        WHERE u.rolname = $1 ORDER BY 1`,
      [PRIV],
    );
    assert.deepEqual(members, [
      { role: "pg_monitor", admin_option: true },
      { role: "pg_read_all_data", admin_option: false },
      { role: "pg_signal_backend", admin_option: true },
      { role: "pg_write_all_data", admin_option: false },
    ]);
    const [forbidden] = await target.query(
      `SELECT pg_has_role($1, 'pg_execute_server_program', 'member') OR pg_has_role($1, 'pg_read_server_files', 'member')
           OR pg_has_role($1, 'pg_write_server_files', 'member') OR pg_has_role($1, 'pg_checkpoint', 'member') AS any`,
      [PRIV],
    );
    assert.equal(forbidden.any, false);
    const [app] = await target.query("SELECT pg_has_role('app', $1, 'member') AS m", [PRIV]);
    assert.equal(app.m, true, "spec roles are members of the privileged role");
  });

  it("alters a role only when its password or options really change", async () => {
    const scram =
      "SCRAM-SHA-256$4096:Zm9vYmFy$o3jQxm/6oUSKCR2XXkHi3J1ZzRf9qkhZ9ggvldtbvDY=:2Oo8b7nCDXuNIVP2E1i5y3dUv/GrnLyzwmO8qx1WyZo=";
    const roles = (pw: string | null, limit: string): Role[] => [
      { name: "pw", encrypted_password: pw, options: null },
      { name: "scram", encrypted_password: scram, options: null },
      {
        name: "lim",
        encrypted_password: null,
        options: [{ name: "CONNECTION LIMIT", value: limit, vartype: "integer" }],
      },
    ];
    await apply(spec(roles(HASH, "5"), []));
    assert.deepEqual((await apply(spec(roles(HASH, "5"), []))).statements, []);
    const changed = await apply(spec(roles(HASH2, "6"), []));
    assert.deepEqual(changed.statements, [
      `ALTER ROLE "pw" LOGIN PASSWORD '***'`,
      `ALTER ROLE "lim" CONNECTION LIMIT 6 LOGIN`,
    ]);
    const rows = await target.query(
      "SELECT rolname, rolpassword, rolconnlimit FROM pg_authid WHERE rolname = ANY($1) ORDER BY 1",
      [["pw", "scram", "lim"]],
    );
    assert.deepEqual(rows, [
      { rolname: "lim", rolpassword: null, rolconnlimit: 6 },
      { rolname: "pw", rolpassword: `md5${HASH2}`, rolconnlimit: -1 },
      { rolname: "scram", rolpassword: scram, rolconnlimit: -1 },
    ]);
  });

  it("renames a role and sets its password again, and does nothing when repeated", async () => {
    await apply(spec([{ name: "before rename", encrypted_password: HASH, options: null }], []));
    const renamed = spec(
      [{ name: "after rename", encrypted_password: HASH2, options: null }],
      [],
      [{ action: "rename_role", name: "before rename", new_name: "after rename" }],
    );
    await apply(renamed);
    assert.deepEqual(
      await target.query("SELECT rolpassword FROM pg_authid WHERE rolname = ANY($1)", [
        ["before rename", "after rename"],
      ]),
      [{ rolpassword: `md5${HASH2}` }],
    );
    assert.deepEqual((await apply(renamed)).statements, []);
  });

  it("fails naming the database whose owner does not exist, and Postgres keeps running", async () => {
    const bad = spec(
      [{ name: "fine", encrypted_password: null, options: null }],
      [
        { name: "good db", owner: "fine", options: null },
        { name: "bad db", owner: "nobody", options: null },
      ],
    );
    await assert.rejects(apply(bad), (err: unknown) => {
      assert.ok(err instanceof ReconcileError);
      assert.equal(err.message, `failed to create database "bad db": role "nobody" does not exist`);
      assert.equal(err.sqlState, "42704");
      return true;
    });
    assert.deepEqual(await target.query("SELECT 1 AS ok"), [{ ok: 1 }]);
    // A failure inside a batch is replayed statement by statement to name the culprit.
    await target.query(`CREATE ROLE "taken"`);
    await assert.rejects(apply(spec([], [], [{ action: "rename_role", name: "fine", new_name: "taken" }])), {
      name: "ReconcileError",
      message: `failed to rename role "fine": role "taken" already exists`,
    });
  });

  it("applies despite ALTER DATABASE settings that would break a normal session", async () => {
    await apply(
      spec(
        [
          { name: "u1", encrypted_password: null, options: null },
          { name: "u2", encrypted_password: null, options: null },
          { name: "leaving", encrypted_password: null, options: null },
        ],
        [{ name: "hostile", owner: "u1", options: null }],
      ),
    );
    await target.query("CREATE TABLE leaving_table (id int)", [], "hostile");
    await target.query(`ALTER TABLE leaving_table OWNER TO leaving`, [], "hostile");
    const hostile = [
      "default_transaction_read_only = on",
      "search_path = 'nowhere'",
      "statement_timeout = 1",
      "role = 'u1'",
    ];
    // One session sets them all: each only affects sessions started later.
    const setter = await target.client();
    for (const db of ["hostile", "postgres"]) {
      for (const s of hostile) await setter.query(`ALTER DATABASE ${db} SET ${s}`);
    }
    await setter.end();
    try {
      const report = await apply(
        spec(
          [
            { name: "u1", encrypted_password: null, options: null },
            { name: "u2", encrypted_password: HASH, options: null },
          ],
          [
            { name: "hostile", owner: "u2", options: null },
            { name: "another", owner: "u2", options: null },
          ],
          [{ action: "delete_role", name: "leaving", new_name: null }],
        ),
      );
      assert.ok(report.statements.some((s) => s.startsWith(`REASSIGN OWNED BY "leaving" TO "u2"`)));
    } finally {
      // Our own sessions are immune; use one to clean up.
      const c = await connect({ connstr: target.connstr() }, { applicationName: "test" });
      await c.query("ALTER DATABASE hostile RESET ALL; ALTER DATABASE postgres RESET ALL");
      await c.end();
    }
    assert.deepEqual(
      await target.query(
        "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname IN ('hostile', 'another') ORDER BY datname",
      ),
      [{ owner: "u2" }, { owner: "u2" }],
    );
    assert.deepEqual(await target.query("SELECT 1 FROM pg_roles WHERE rolname = 'leaving'"), []);
    assert.deepEqual(
      await target.query(
        "SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relname = 'leaving_table'",
        [],
        "hostile",
      ),
      [{ owner: "u2" }],
    );
  });

  it("sets up spec databases so objects the agent creates there are usable by the privileged role", async () => {
    await apply(
      spec(
        [{ name: "owner1", encrypted_password: null, options: null }],
        [
          { name: "copied", owner: "owner1", options: null },
          {
            name: "from_t0",
            owner: "owner1",
            options: [{ name: "TEMPLATE", value: "template0", vartype: "enum" }],
          },
        ],
      ),
    );
    for (const db of ["copied", "from_t0"]) {
      await target.query("CREATE TABLE public.made_by_agent (id int)", [], db);
      const [row] = await target.query(
        "SELECT has_table_privilege($1, 'public.made_by_agent', 'SELECT WITH GRANT OPTION') AS ok",
        [PRIV],
        db,
      );
      assert.equal(row.ok, true, db);
    }
  });
});
