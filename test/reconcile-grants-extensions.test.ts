// POST /grants, POST /extensions and GET /dbs_and_roles operations against real Postgres:
// effects, validation, and that a repeated request is a no-op (checked in pg_stat_statements).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { OperationError } from "../src/errors/operation-error.js";
import { installExtension, listDbsAndRoles, setSchemaGrants } from "../src/reconcile/index.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

describe("reconcile grants, extensions, dbs and roles", () => {
  let pg: TestPostgres;
  const target = () => ({ connstr: pg.connstr() });
  /** Statements of a kind that ran in `db` since the last reset. */
  const ran = async (pattern: string, db: string) =>
    (
      await pg.query<{ query: string }>(
        `SELECT s.query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
          WHERE d.datname = $1 AND s.query ~* $2`,
        [db, pattern],
      )
    ).map((r) => r.query);

  before(async () => {
    pg = await startTestPostgres({ settings: { shared_preload_libraries: "pg_stat_statements" } });
    await pg.query("CREATE EXTENSION pg_stat_statements");
    await pg.query(`CREATE ROLE "app user" LOGIN PASSWORD 'md5${"a".repeat(32)}'`);
    await pg.query(`CREATE DATABASE "grants db"`);
    await pg.query(`CREATE SCHEMA "my schema"`, [], "grants db");
  });
  after(async () => {
    await pg?.stop();
  });

  it("grants only the missing schema privileges, and a second call issues no GRANT", async () => {
    const body = { database: "grants db", schema: "my schema", privileges: ["USAGE"], role: "app user" };
    assert.deepEqual(await setSchemaGrants(target(), body), body);
    const both = { ...body, privileges: ["USAGE", "CREATE"] };
    await pg.query("SELECT pg_stat_statements_reset()");
    assert.deepEqual(await setSchemaGrants(target(), both), both);
    assert.deepEqual(await ran("^GRANT", "grants db"), [`GRANT CREATE ON SCHEMA "my schema" TO "app user"`]);
    const [has] = await pg.query(
      `SELECT has_schema_privilege('app user', 'my schema', 'USAGE') AND has_schema_privilege('app user', 'my schema', 'CREATE') AS ok`,
      [],
      "grants db",
    );
    assert.equal(has.ok, true);
    await pg.query("SELECT pg_stat_statements_reset()");
    await setSchemaGrants(target(), both);
    assert.deepEqual(await ran("^GRANT", "grants db"), []);
  });

  it("rejects malformed grant requests naming the field", async () => {
    const ok = { database: "grants db", schema: "my schema", privileges: ["USAGE"], role: "app user" };
    const cases: [unknown, RegExp, string][] = [
      [null, /JSON object/, "unprocessable"],
      [{ ...ok, database: "" }, /^database:/, "unprocessable"],
      [{ ...ok, schema: 5 }, /^schema:/, "unprocessable"],
      [{ ...ok, role: undefined }, /^role:/, "unprocessable"],
      [{ ...ok, privileges: [] }, /^privileges:/, "unprocessable"],
      [{ ...ok, privileges: ["USAGE", "DROP TABLE x"] }, /^privileges\[1\]:/, "unprocessable"],
      // Allowed by the API, but not a schema privilege in Postgres: Postgres refuses it (500, as Neon).
      [
        { ...ok, privileges: ["SELECT"] },
        /^failed to grant role privileges to the schema: invalid privilege type SELECT for schema/,
        "internal",
      ],
      [{ ...ok, database: "no such db" }, /database "no such db" does not exist/, "not_found"],
      [{ ...ok, schema: "nope" }, /schema "nope" does not exist/, "not_found"],
      [{ ...ok, role: "nobody" }, /role "nobody" does not exist/, "not_found"],
    ];
    for (const [body, message, kind] of cases) {
      await assert.rejects(setSchemaGrants(target(), body), (err: unknown) => {
        assert.ok(err instanceof OperationError, String(err));
        assert.match(err.message, message);
        assert.equal(err.kind, kind, err.message);
        return true;
      });
    }
  });

  it("creates an extension at a version, updates it, and a repeated call is a no-op", async () => {
    const versions = (
      await pg.query<{ version: string }>(
        "SELECT version FROM pg_available_extension_versions WHERE name = 'pg_trgm' ORDER BY string_to_array(version, '.')::int[]",
      )
    ).map((r) => r.version);
    assert.ok(versions.length >= 2, `pg_trgm versions: ${versions}`);
    const [older, newest] = [versions.at(-2) as string, versions.at(-1) as string];
    const installed = async () =>
      (await pg.query("SELECT extversion FROM pg_extension WHERE extname = 'pg_trgm'", [], "grants db")).map(
        (r) => r.extversion,
      );

    const body = { extension: "pg_trgm", database: "grants db", version: older };
    assert.deepEqual(await installExtension(target(), body), { extension: "pg_trgm", version: older });
    assert.deepEqual(await installed(), [older]);
    await pg.query("SELECT pg_stat_statements_reset()");
    await installExtension(target(), body);
    assert.deepEqual(await ran("^(CREATE|ALTER) EXTENSION", "grants db"), []);

    await installExtension(target(), { ...body, version: newest });
    assert.deepEqual(await installed(), [newest]);
    assert.equal((await ran("^ALTER EXTENSION", "grants db")).length, 1);

    const pss = await pg.query<{ default_version: string }>(
      "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_stat_statements'",
    );
    const v = pss[0].default_version;
    await installExtension(target(), { extension: "pg_stat_statements", database: "grants db", version: v });
    assert.deepEqual(
      await pg.query(
        "SELECT n.nspname, e.extversion FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname = 'pg_stat_statements'",
        [],
        "grants db",
      ),
      [{ nspname: "public", extversion: v }],
    );
  });

  it("reports extension failures and malformed requests", async () => {
    await assert.rejects(installExtension(target(), { extension: "pg_trgm", database: "grants db" }), {
      name: "OperationError",
      message: "version: expected a non-empty string",
    });
    await assert.rejects(
      installExtension(target(), { extension: "no_such_ext", database: "grants db", version: "1.0" }),
      (err: unknown) =>
        err instanceof OperationError &&
        err.kind === "internal" &&
        /^failed to install extension: /.test(err.message),
    );
    await assert.rejects(
      installExtension(target(), { extension: "pg_trgm", database: "no such db", version: "1.6" }),
      (err: unknown) => err instanceof OperationError && err.kind === "not_found",
    );
  });

  it("lists roles and databases without password hashes", async () => {
    const { roles, databases } = await listDbsAndRoles(target());
    assert.ok(roles.some((r) => r.name === "app user"));
    assert.ok(roles.every((r) => Object.keys(r).sort().join() === "name,options" && r.options === null));
    assert.deepEqual(
      databases.find((d) => d.name === "template0"),
      { name: "template0", owner: "postgres", options: null, restrict_conn: true, invalid: false },
    );
    assert.deepEqual(
      databases.find((d) => d.name === "grants db"),
      { name: "grants db", owner: "postgres", options: null, restrict_conn: false, invalid: false },
    );
    assert.ok(!JSON.stringify({ roles, databases }).includes("md5"));
  });
});
