// The reconciler's planning as data: spec + catalog snapshot -> phases of SQL, no database.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CatalogSnapshot, PlannedStatement } from "../src/reconcile/index.js";
import { PlanError, planSpec } from "../src/reconcile/index.js";
import { revokeGrantsBlock } from "../src/reconcile/role-references.js";
import type { ComputeSpecJson, Database, DeltaOp, Role } from "../src/spec/types.js";
import { specJson } from "./support/spec-json.js";

const PRIV = "neon_superuser";
const HASH = "6b1d16b78004bbd51fa06af9eda75972";
const SCRAM =
  "SCRAM-SHA-256$4096:Zm9vYmFy$o3jQxm/6oUSKCR2XXkHi3J1ZzRf9qkhZ9ggvldtbvDY=:2Oo8b7nCDXuNIVP2E1i5y3dUv/GrnLyzwmO8qx1WyZo=";

function spec(roles: Role[], databases: Database[], deltas: DeltaOp[] | null = null): ComputeSpecJson {
  return specJson({ roles, databases }, { delta_operations: deltas });
}

const attrs = {
  superuser: false,
  inherit: true,
  createrole: false,
  createdb: false,
  login: true,
  replication: false,
  bypassrls: false,
  connlimit: -1,
  validUntil: null,
};

let nextOid = 20000;
function role(name: string, password: string | null = null, extra: Partial<typeof attrs> = {}) {
  return { oid: nextOid++, name, password, ...attrs, ...extra };
}
function db(name: string, owner: string, extra: Partial<CatalogSnapshot["databases"][number]> = {}) {
  return { oid: nextOid++, name, owner, isTemplate: false, allowConnections: true, invalid: false, ...extra };
}

/** A fresh cluster with the privileged role set up and all system objects present. */
function snapshot(over: Partial<CatalogSnapshot> = {}): CatalogSnapshot {
  const base: CatalogSnapshot = {
    agentUser: "postgres",
    systemDatabase: "postgres",
    serverVersion: 150000,
    preloadLibraries: [],
    fsync: true,
    roles: [
      role("postgres", null, {
        superuser: true,
        createrole: true,
        createdb: true,
        replication: true,
        bypassrls: true,
      }),
      role(PRIV, null, {
        login: false,
        createdb: true,
        createrole: true,
        replication: true,
        bypassrls: true,
      }),
    ],
    databases: [
      db("postgres", "postgres"),
      db("template1", "postgres", { isTemplate: true }),
      db("template0", "postgres", { isTemplate: true, allowConnections: false }),
    ],
    privilegedMemberships: [
      { role: "pg_read_all_data", admin: false },
      { role: "pg_write_all_data", admin: false },
      { role: "pg_monitor", admin: true },
      { role: "pg_signal_backend", admin: true },
    ],
    subscriptions: [],
    roleDependencies: [],
    setupTable: true,
    databaseSetup: [],
    pgStatStatementsInstalled: false,
    subscriptionsDropped: false,
    systemExtensions: [],
    systemAuditOff: false,
  };
  const s = { ...base, ...over };
  if (over.roles) s.roles = [...base.roles, ...over.roles];
  if (over.databases) s.databases = [...base.databases, ...over.databases];
  // Every database in the snapshot counts as set up unless the test says otherwise.
  if (!over.databaseSetup) s.databaseSetup = s.databases.map((d) => ({ databaseOid: d.oid, version: 1 }));
  return s;
}

function sqlOf(plan: ReturnType<typeof planSpec>): string[] {
  return plan.phases.flatMap((p) =>
    p.kind === "sql"
      ? p.statements.map((s) => s.sql)
      : p.tasks.flatMap((t) => t.statements.map((s) => s.sql)),
  );
}
function phaseNames(plan: ReturnType<typeof planSpec>): string[] {
  return plan.phases.map((p) => p.name);
}
function statementsOf(plan: ReturnType<typeof planSpec>, name: string): PlannedStatement[] {
  const p = plan.phases.find((x) => x.name === name);
  if (!p) return [];
  return p.kind === "sql" ? p.statements : p.tasks.flatMap((t) => t.statements);
}

describe("reconcile plan", () => {
  it("plans nothing for a spec the catalog already matches", () => {
    const s = snapshot({
      roles: [role("alice", `md5${HASH}`), role("bob", SCRAM), role("carol", null, { connlimit: 5 })],
      databases: [db("shop", "alice"), db("blog", "bob")],
    });
    const plan = planSpec({
      spec: spec(
        [
          { name: "alice", encrypted_password: HASH, options: null },
          { name: "bob", encrypted_password: SCRAM, options: null },
          {
            name: "carol",
            encrypted_password: null,
            options: [{ name: "CONNECTION LIMIT", value: "5", vartype: "integer" }],
          },
        ],
        [
          { name: "shop", owner: "alice", options: null },
          { name: "blog", owner: "bob", options: [{ name: "LC_COLLATE", value: "C", vartype: "string" }] },
        ],
        [
          { action: "delete_db", name: "gone_db", new_name: null },
          { action: "delete_role", name: "gone_role", new_name: null },
          { action: "rename_role", name: "gone_old", new_name: "alice" },
          { action: "rename_db", name: "gone_old_db", new_name: "shop" },
        ],
      ),
      snapshot: s,
      privilegedRole: PRIV,
    });
    assert.deepEqual(plan.phases, []);
  });

  it("compares md5 hashes with their prefix and alters only what differs, password redacted", () => {
    const s = snapshot({ roles: [role("alice", `md5${HASH}`), role("bob", `md5${HASH}`)] });
    const other = "0123456789abcdef0123456789abcdef";
    const plan = planSpec({
      spec: spec(
        [
          // Postgres stores hashes in lower case; an upper-case spec hash is the same password.
          { name: "alice", encrypted_password: HASH.toUpperCase(), options: null },
          { name: "bob", encrypted_password: other, options: null },
        ],
        [],
      ),
      snapshot: s,
      privilegedRole: PRIV,
    });
    const st = statementsOf(plan, "create_alter_roles");
    assert.equal(st.length, 1);
    assert.equal(st[0].sql, `ALTER ROLE "bob" LOGIN PASSWORD 'md5${other}'`);
    assert.equal(st[0].redacted, `ALTER ROLE "bob" LOGIN PASSWORD '***'`);
  });

  it("creates roles in the privileged role with rendered options and the right password form", () => {
    const plan = planSpec({
      spec: spec(
        [
          { name: "md5 role", encrypted_password: HASH, options: null },
          { name: "scram", encrypted_password: SCRAM, options: null },
          {
            name: "opts",
            encrypted_password: null,
            options: [
              { name: "CONNECTION LIMIT", value: "3", vartype: "integer" },
              { name: "VALID UNTIL", value: "2030-01-01 00:00:00+00", vartype: "string" },
              { name: "CREATEDB", value: null, vartype: "bool" },
            ],
          },
          {
            name: "nologin",
            encrypted_password: null,
            options: [{ name: "NOLOGIN", value: null, vartype: "bool" }],
          },
        ],
        [],
      ),
      snapshot: snapshot(),
      privilegedRole: PRIV,
    });
    assert.deepEqual(
      statementsOf(plan, "create_alter_roles").map((s) => s.sql),
      [
        `CREATE ROLE "md5 role" IN ROLE "neon_superuser" LOGIN PASSWORD 'md5${HASH}'`,
        `CREATE ROLE "scram" IN ROLE "neon_superuser" LOGIN PASSWORD '${SCRAM}'`,
        `CREATE ROLE "opts" IN ROLE "neon_superuser" CONNECTION LIMIT 3 VALID UNTIL '2030-01-01 00:00:00+00' CREATEDB LOGIN PASSWORD NULL`,
        `CREATE ROLE "nologin" IN ROLE "neon_superuser" NOLOGIN PASSWORD NULL`,
      ],
    );
  });

  it("creates local_proxy's JWT roles (local_proxy_config.jwks[].role_names) without the privileged role, as Neon", () => {
    const json = spec(
      [
        { name: "jwt user", encrypted_password: null, options: null },
        { name: "member", encrypted_password: null, options: null },
      ],
      [],
    );
    json.local_proxy_config = {
      jwks: [{ id: "p1", role_names: ["jwt user"], jwks_url: "https://idp/jwks", provider_name: "idp" }],
    };
    const plan = planSpec({ spec: json, snapshot: snapshot(), privilegedRole: PRIV });
    assert.deepEqual(
      statementsOf(plan, "create_alter_roles").map((s) => s.sql),
      [
        `CREATE ROLE "jwt user" LOGIN PASSWORD NULL`,
        `CREATE ROLE "member" IN ROLE "neon_superuser" LOGIN PASSWORD NULL`,
      ],
    );
  });

  it("alters a role whose options differ even when the password is the same", () => {
    const s = snapshot({ roles: [role("carol", `md5${HASH}`, { connlimit: 5 })] });
    const plan = planSpec({
      spec: spec(
        [
          {
            name: "carol",
            encrypted_password: HASH,
            options: [{ name: "CONNECTION LIMIT", value: "7", vartype: "integer" }],
          },
        ],
        [],
      ),
      snapshot: s,
      privilegedRole: PRIV,
    });
    assert.deepEqual(sqlOf(plan), [`ALTER ROLE "carol" CONNECTION LIMIT 7 LOGIN`]);
  });

  it("quotes tricky names as identifiers and as literals", () => {
    const evil = `";with ';injections $$ $x$ $ %I !/\\&#@`;
    const plan = planSpec({
      spec: spec(
        [{ name: evil, encrypted_password: null, options: null }],
        [{ name: evil, owner: evil, options: null }],
      ),
      snapshot: snapshot({ databaseSetup: [] }),
      privilegedRole: PRIV,
    });
    const ident = `"""${evil.slice(1).replaceAll('"', '""')}"`;
    const sql = sqlOf(plan);
    assert.ok(sql.includes(`CREATE ROLE ${ident} IN ROLE "neon_superuser" LOGIN PASSWORD NULL`));
    assert.ok(sql.includes(`CREATE DATABASE ${ident} OWNER ${ident}`));
    assert.ok(sql.includes(`GRANT ALL PRIVILEGES ON DATABASE ${ident} TO "neon_superuser"`));
    // The setup record names it as a literal: quotes doubled, backslash escaped in an E'' string.
    const record = sql.find((s) => s.startsWith("INSERT INTO neon_migration.database_setup"));
    assert.ok(record?.includes(`E'";with '';injections $$ $x$ $ %I !/\\\\&#@'`));
  });

  it("dollar-quotes DO blocks with a tag the role name does not contain", () => {
    const block = revokeGrantsBlock("a$x$b");
    assert.ok(block.startsWith("DO $xx$"));
    assert.ok(block.endsWith("$xx$"));
    assert.ok(block.includes("rolname = 'a$x$b'"));
    assert.ok(revokeGrantsBlock("it's").includes("'it''s'"));
  });

  it("renders database options and rejects raw values that are not words or numbers", () => {
    const plan = planSpec({
      spec: spec(
        [],
        [
          {
            name: "DB2",
            owner: "postgres",
            options: [
              { name: "LC_COLLATE", value: "C", vartype: "string" },
              { name: "LC_CTYPE", value: "C", vartype: "string" },
              { name: "TEMPLATE", value: "template0", vartype: "enum" },
            ],
          },
        ],
      ),
      snapshot: snapshot(),
      privilegedRole: PRIV,
    });
    assert.deepEqual(
      statementsOf(plan, "create_databases")[0].sql,
      `CREATE DATABASE "DB2" LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 OWNER "postgres"`,
    );
    // The parser refuses these (test/spec-rules.test.ts); the planner refuses them too, should a
    // spec reach it some other way.
    const badDb = spec([], [{ name: "x", owner: "postgres", options: null }]);
    badDb.cluster.databases[0].options = [{ name: "TEMPLATE", value: "t; DROP", vartype: "enum" }];
    assert.throws(
      () => planSpec({ spec: badDb, snapshot: snapshot(), privilegedRole: PRIV }),
      (e: unknown) => e instanceof PlanError && e.path === "cluster.databases[0].options",
    );
    const badRole = spec([{ name: "r", encrypted_password: null, options: null }], []);
    badRole.cluster.roles[0].options = [{ name: "LOGIN; --", value: null, vartype: "bool" }];
    assert.throws(
      () => planSpec({ spec: badRole, snapshot: snapshot(), privilegedRole: PRIV }),
      (e: unknown) => e instanceof PlanError && e.path === "cluster.roles[0].options",
    );
  });

  it("rejects names Postgres would truncate, naming the field", () => {
    const long = "é".repeat(32); // 64 bytes
    const tooLong = spec([], [{ name: "short", owner: "x", options: null }]);
    tooLong.cluster.databases[0].name = long;
    assert.throws(
      () => planSpec({ spec: tooLong, snapshot: snapshot(), privilegedRole: PRIV }),
      (e: unknown) => e instanceof PlanError && e.path === "cluster.databases[0].name",
    );
    const ok = `${"é".repeat(31)}x`; // 63 bytes
    assert.doesNotThrow(() =>
      planSpec({
        spec: spec([{ name: ok, encrypted_password: null, options: null }], []),
        snapshot: snapshot(),
        privilegedRole: PRIV,
      }),
    );
  });

  it("applies delta operations in list order and skips objects that do not exist", () => {
    const s = snapshot({
      roles: [role("old", `md5${HASH}`)],
      databases: [db("A", "old"), db("tpl", "postgres", { isTemplate: true })],
    });
    const plan = planSpec({
      spec: spec(
        [{ name: "new", encrypted_password: HASH, options: null }],
        [],
        [
          { action: "rename_role", name: "old", new_name: "new" },
          { action: "rename_db", name: "A", new_name: "B" },
          { action: "delete_db", name: "B", new_name: null },
          { action: "delete_db", name: "nonexistent_db", new_name: null },
          { action: "delete_db", name: "tpl", new_name: null },
          { action: "delete_role", name: "nonexistent_role", new_name: null },
        ],
      ),
      snapshot: s,
      privilegedRole: PRIV,
    });
    assert.deepEqual(sqlOf(plan), [
      `ALTER ROLE "old" RENAME TO "new"`,
      // The md5 hash is salted with the name: Postgres cleared it on rename, so it is set again.
      `ALTER ROLE "new" LOGIN PASSWORD 'md5${HASH}'`,
      `ALTER DATABASE "A" RENAME TO "B"`,
      `DROP DATABASE IF EXISTS "B" WITH (FORCE)`,
      `ALTER DATABASE "tpl" IS_TEMPLATE false`,
      `DROP DATABASE IF EXISTS "tpl" WITH (FORCE)`,
      "DELETE FROM neon_migration.database_setup WHERE datoid NOT IN (SELECT oid FROM pg_catalog.pg_database)",
    ]);
  });

  it("drops a deleted database's subscriptions in it first, detaching the publisher's slot", () => {
    const sub = db("subdb", "postgres", { allowConnections: false });
    const plan = planSpec({
      spec: spec([], [], [{ action: "delete_db", name: "subdb", new_name: null }]),
      snapshot: snapshot({ databases: [sub], subscriptions: [{ databaseOid: sub.oid, name: "my sub" }] }),
      privilegedRole: PRIV,
    });
    assert.deepEqual(phaseNames(plan), [
      "prepare_subscription_drops",
      "drop_subscriptions",
      "rename_delete_databases",
      "record_database_setup",
    ]);
    const drops = plan.phases[1];
    assert.equal(drops.kind, "per_database");
    if (drops.kind !== "per_database") return;
    assert.equal(drops.tasks[0].database, "subdb");
    assert.deepEqual(
      drops.tasks[0].statements.map((s) => s.sql),
      [
        `ALTER SUBSCRIPTION "my sub" DISABLE`,
        `ALTER SUBSCRIPTION "my sub" SET (slot_name = NONE)`,
        // Cut from the publisher, so dropping it cannot reach the publisher's table-sync slots.
        `ALTER SUBSCRIPTION "my sub" CONNECTION 'host=/nonexistent/compute_ctl/subscription-dropped port=1 connect_timeout=1'`,
        `DROP SUBSCRIPTION "my sub"`,
      ],
    );
    assert.deepEqual(
      statementsOf(plan, "prepare_subscription_drops").map((s) => s.sql),
      [`ALTER DATABASE "subdb" ALLOW_CONNECTIONS true`],
    );
  });

  it("visits only databases where pg_shdepend shows the deleted role, system database first", () => {
    const doomed = role("doomed");
    const owner = role("keeper");
    const withObjects = db("objs", "keeper");
    const ownedByDoomed = db("mine", "doomed");
    const clean = db("clean", "keeper");
    const s = snapshot({
      roles: [doomed, owner],
      databases: [withObjects, ownedByDoomed, clean],
      roleDependencies: [
        { roleOid: doomed.oid, databaseOid: withObjects.oid, onDatabase: null },
        { roleOid: doomed.oid, databaseOid: ownedByDoomed.oid, onDatabase: null },
        { roleOid: doomed.oid, databaseOid: 0, onDatabase: ownedByDoomed.oid },
      ],
    });
    const plan = planSpec({
      spec: spec([], [], [{ action: "delete_role", name: "doomed", new_name: null }]),
      snapshot: s,
      privilegedRole: PRIV,
    });
    assert.deepEqual(phaseNames(plan), ["system_database_references", "per_database", "drop_roles"]);
    assert.deepEqual(
      statementsOf(plan, "system_database_references").map((x) => x.action),
      ["reassign objects owned by role", "revoke privileges granted to role", "drop objects owned by role"],
    );
    assert.equal(
      statementsOf(plan, "system_database_references")[0].sql,
      `REASSIGN OWNED BY "doomed" TO "postgres"`,
    );
    const per = plan.phases[1];
    assert.ok(per.kind === "per_database");
    if (per.kind !== "per_database") return;
    // "mine" now belongs to the system database's owner, so its objects go there too.
    assert.deepEqual(
      per.tasks.map((t) => [t.database, t.statements[0].sql]),
      [
        ["objs", `REASSIGN OWNED BY "doomed" TO "keeper"`],
        ["mine", `REASSIGN OWNED BY "doomed" TO "postgres"`],
      ],
    );
    assert.deepEqual(
      statementsOf(plan, "drop_roles").map((x) => x.sql),
      [`DROP ROLE IF EXISTS "doomed"`],
    );
  });

  it("drops invalid databases first and re-creates them when the spec has them", () => {
    const s = snapshot({ databases: [db("half", "postgres", { invalid: true })] });
    const plan = planSpec({
      spec: spec([], [{ name: "half", owner: "postgres", options: null }]),
      snapshot: s,
      privilegedRole: PRIV,
    });
    assert.deepEqual(phaseNames(plan).slice(0, 2), ["drop_invalid_databases", "create_databases"]);
    assert.equal(
      statementsOf(plan, "drop_invalid_databases")[0].sql,
      `DROP DATABASE IF EXISTS "half" WITH (FORCE)`,
    );
  });

  it("sets up template1 once so databases copied from it need no connection of their own", () => {
    const s = snapshot();
    s.databaseSetup = [];
    const plan = planSpec({
      spec: spec(
        [],
        [
          { name: "from_t1", owner: "postgres", options: null },
          {
            name: "from_t0",
            owner: "postgres",
            options: [{ name: "TEMPLATE", value: "template0", vartype: "enum" }],
          },
        ],
      ),
      snapshot: s,
      privilegedRole: PRIV,
    });
    assert.deepEqual(phaseNames(plan), [
      "set_up_template",
      "create_databases",
      "alter_databases",
      "per_database",
      "record_database_setup",
    ]);
    const per = plan.phases[3];
    assert.ok(per.kind === "per_database" && per.tasks.length === 1 && per.tasks[0].database === "from_t0");
    const record = statementsOf(plan, "record_database_setup")[0].sql;
    assert.match(record, /datname IN \('template1', 'from_t1', 'from_t0'\)/);
  });

  it("creates the privileged role with exactly its attributes and memberships, and repairs a drifted one", () => {
    const fresh = snapshot();
    fresh.roles = fresh.roles.filter((r) => r.name !== PRIV);
    fresh.privilegedMemberships = [];
    const created = planSpec({ spec: spec([], []), snapshot: fresh, privilegedRole: "my su" });
    assert.deepEqual(
      statementsOf(created, "privileged_role").map((s) => s.sql),
      [
        `CREATE ROLE "my su" NOLOGIN CREATEDB CREATEROLE REPLICATION BYPASSRLS IN ROLE "pg_read_all_data", "pg_write_all_data"`,
        `GRANT "pg_monitor" TO "my su" WITH ADMIN OPTION`,
        `GRANT "pg_signal_backend" TO "my su" WITH ADMIN OPTION`,
      ],
    );

    const drifted = snapshot({
      privilegedMemberships: [
        { role: "pg_read_all_data", admin: false },
        { role: "pg_monitor", admin: false },
        { role: "pg_signal_backend", admin: true },
        { role: "pg_execute_server_program", admin: false },
      ],
    });
    drifted.roles = drifted.roles.map((r) => (r.name === PRIV ? { ...r, login: true } : r));
    assert.deepEqual(
      statementsOf(
        planSpec({ spec: spec([], []), snapshot: drifted, privilegedRole: PRIV }),
        "privileged_role",
      ).map((s) => s.sql),
      [
        `ALTER ROLE "neon_superuser" NOLOGIN CREATEDB CREATEROLE REPLICATION BYPASSRLS`,
        `GRANT "pg_write_all_data" TO "neon_superuser"`,
        `GRANT "pg_monitor" TO "neon_superuser" WITH ADMIN OPTION`,
        `REVOKE "pg_execute_server_program" FROM "neon_superuser"`,
      ],
    );

    const superuser = snapshot();
    superuser.roles = superuser.roles.map((r) => (r.name === PRIV ? { ...r, superuser: true } : r));
    assert.throws(
      () => planSpec({ spec: spec([], []), snapshot: superuser, privilegedRole: PRIV }),
      /superuser/,
    );
  });

  it("changes a database owner only when it differs, following role renames", () => {
    const s = snapshot({
      roles: [role("old"), role("other")],
      databases: [db("d1", "old"), db("d2", "other")],
    });
    const plan = planSpec({
      spec: spec(
        [],
        [
          { name: "d1", owner: "renamed", options: null },
          { name: "d2", owner: "renamed", options: null },
        ],
        [{ action: "rename_role", name: "old", new_name: "renamed" }],
      ),
      snapshot: s,
      privilegedRole: PRIV,
    });
    assert.deepEqual(
      statementsOf(plan, "alter_databases").map((x) => x.sql),
      [`ALTER DATABASE "d2" OWNER TO "renamed"`],
    );
  });

  it("copies new databases with FILE_COPY when fsync is off or they are many, never on neon storage", () => {
    const owner = { name: "o", encrypted_password: null, options: null };
    const dbs = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ name: `d${i}`, owner: "o", options: null }));
    const creates = (over: Partial<CatalogSnapshot>, n: number) =>
      statementsOf(
        planSpec({ spec: spec([owner], dbs(n)), snapshot: snapshot(over), privilegedRole: PRIV }),
        "create_databases",
      ).map((x) => x.sql);
    // fsync on: the default strategy for a few, FILE_COPY from BULK_CREATE (4) on.
    assert.deepEqual(creates({}, 2), [`CREATE DATABASE "d0" OWNER "o"`, `CREATE DATABASE "d1" OWNER "o"`]);
    assert.ok(creates({}, 4).every((q) => q.includes("STRATEGY FILE_COPY")));
    // fsync off: its forced checkpoints are nearly free, so even one database is file-copied.
    assert.deepEqual(creates({ fsync: false }, 1), [`CREATE DATABASE "d0" STRATEGY FILE_COPY OWNER "o"`]);
    // Neon storage only has what is WAL-logged: never FILE_COPY, however many and whatever fsync.
    const neon = { preloadLibraries: ["neon"], fsync: false };
    assert.ok(creates(neon, 6).every((q) => !q.includes("STRATEGY")));
    // A strategy the spec names wins.
    const named = planSpec({
      spec: spec(
        [owner],
        [{ name: "w", owner: "o", options: [{ name: "STRATEGY", value: "WAL_LOG", vartype: "string" }] }],
      ),
      snapshot: snapshot({ fsync: false }),
      privilegedRole: PRIV,
    });
    assert.equal(
      statementsOf(named, "create_databases").filter((x) => x.sql.includes("FILE_COPY")).length,
      0,
    );
  });

  it("names no STRATEGY on PostgreSQL 14, and refuses a spec STRATEGY there naming the field", () => {
    const owner = { name: "o", encrypted_password: null, options: null };
    const many = Array.from({ length: 6 }, (_, i) => ({ name: `d${i}`, owner: "o", options: null }));
    const pg14 = { serverVersion: 140023, fsync: false };
    const plan = planSpec({ spec: spec([owner], many), snapshot: snapshot(pg14), privilegedRole: PRIV });
    const creates = statementsOf(plan, "create_databases").map((x) => x.sql);
    assert.equal(creates.length, 6);
    assert.ok(
      creates.every((q) => !q.includes("STRATEGY")),
      creates.join("\n"),
    );
    assert.throws(
      () =>
        planSpec({
          spec: spec(
            [owner],
            [{ name: "w", owner: "o", options: [{ name: "STRATEGY", value: "WAL_LOG", vartype: "string" }] }],
          ),
          snapshot: snapshot(pg14),
          privilegedRole: PRIV,
        }),
      (err: Error) =>
        err instanceof PlanError &&
        /cluster\.databases\[0\]\.options/.test(err.message) &&
        /STRATEGY needs PostgreSQL 15 or later \(this server is 14\.23\)/.test(err.message),
    );
  });
});
