// Cluster migrations against real Postgres: applied once, in order, each with its id bump in
// one transaction; a failing one is reported, rolled back, and retried by the next run.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { type Migration, runMigrations } from "../src/reconcile/index.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

const log = pino({ level: "silent" });
const PRIV = "neon_superuser";

describe("reconcile migrations", () => {
  let pg: TestPostgres;
  const currentId = async () =>
    Number((await pg.query("SELECT id FROM neon_migration.migration_id WHERE key = 0"))[0].id);

  before(async () => {
    pg = await startTestPostgres();
  });
  after(async () => {
    await pg?.stop();
  });

  it("applies the agent's migrations once and grants the privileged role what they say", async () => {
    // As on a cluster whose privileged role predates them: bare, without the later grants.
    await pg.query(`CREATE ROLE ${PRIV} NOLOGIN CREATEDB CREATEROLE REPLICATION`);
    await pg.query("CREATE ROLE member_noinherit NOINHERIT");
    await pg.query(`GRANT ${PRIV} TO member_noinherit`);
    const failures: number[] = [];
    const first = await runMigrations({
      target: { connstr: pg.connstr() },
      log,
      privilegedRole: PRIV,
      onFailure: (id) => failures.push(id),
    });
    assert.deepEqual(first, { applied: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], failed: null, error: null });
    assert.deepEqual(failures, []);
    assert.equal(await currentId(), 12);
    const [role] = await pg.query(
      `SELECT rolbypassrls,
              pg_has_role($1, 'pg_monitor', 'member') AS monitor,
              pg_has_role($1, 'pg_signal_backend', 'member') AS signal,
              has_function_privilege($1, 'pg_show_replication_origin_status()', 'EXECUTE') AS origin
         FROM pg_roles WHERE rolname = $1`,
      [PRIV],
    );
    assert.deepEqual(role, { rolbypassrls: true, monitor: true, signal: true, origin: true });
    assert.deepEqual(await pg.query("SELECT rolinherit FROM pg_roles WHERE rolname = 'member_noinherit'"), [
      { rolinherit: true },
    ]);

    const second = await runMigrations({
      target: { connstr: pg.connstr() },
      log,
      privilegedRole: PRIV,
      onFailure: () => {},
    });
    assert.deepEqual(second, { applied: [], failed: null, error: null });
  });

  it("reports a failing migration, rolls it back with its id, and retries it next time", async () => {
    await pg.query("DROP SCHEMA neon_migration CASCADE");
    await pg.query("CREATE TABLE public.migration_log (id int)");
    const list = (second: string): Migration[] => [
      { id: 1, sql: "INSERT INTO public.migration_log VALUES (1)" },
      { id: 2, sql: `INSERT INTO public.migration_log VALUES (2); ${second}` },
      { id: 3, sql: "INSERT INTO public.migration_log VALUES (3)" },
    ];
    const failures: number[] = [];
    const opts = {
      target: { connstr: pg.connstr() },
      log,
      privilegedRole: PRIV,
      onFailure: (id: number) => failures.push(id),
    };

    const broken = await runMigrations({ ...opts, migrations: list("SELECT * FROM public.missing_table") });
    assert.equal(broken.failed, 2);
    assert.deepEqual(broken.applied, [1]);
    assert.match(broken.error ?? "", /missing_table/);
    assert.deepEqual(failures, [2]);
    assert.equal(await currentId(), 1);
    assert.deepEqual(await pg.query("SELECT id FROM public.migration_log ORDER BY id"), [{ id: 1 }]);

    const fixed = await runMigrations({ ...opts, migrations: list("SELECT 1") });
    assert.deepEqual(fixed, { applied: [2, 3], failed: null, error: null });
    assert.equal(await currentId(), 3);
    assert.deepEqual(await pg.query("SELECT id FROM public.migration_log ORDER BY id"), [
      { id: 1 },
      { id: 2 },
      { id: 3 },
    ]);
    assert.deepEqual(failures, [2]);
  });

  it("runs each migration once even when two runners race", async () => {
    await pg.query("DROP SCHEMA neon_migration CASCADE; TRUNCATE public.migration_log");
    const migrations: Migration[] = [1, 2, 3, 4].map((id) => ({
      id,
      sql: `INSERT INTO public.migration_log VALUES (${id}); SELECT pg_sleep(0.05)`,
    }));
    const opts = {
      target: { connstr: pg.connstr() },
      log,
      privilegedRole: PRIV,
      onFailure: () => {},
      migrations,
    };
    const [a, b] = await Promise.all([runMigrations(opts), runMigrations(opts)]);
    assert.equal(a.error, null);
    assert.equal(b.error, null);
    assert.deepEqual([...a.applied, ...b.applied].sort(), [1, 2, 3, 4]);
    assert.deepEqual(
      await pg.query("SELECT id FROM public.migration_log ORDER BY id"),
      [1, 2, 3, 4].map((id) => ({ id })),
    );
  });
});
