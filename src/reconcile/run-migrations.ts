// Applies pending cluster migrations, each in its own transaction together with its id bump in
// neon_migration.migration_id (system database), so each runs exactly once per cluster even if
// two agents race (the id row is locked while a migration runs). Stops at the first failure:
// it is logged, reported through onFailure (the lead counts it in
// compute_ctl_db_migration_failed_total) and retried on the next start. Never throws.
import type pg from "pg";
import type { Logger } from "pino";
import { capabilitiesOf, SERVER_VERSION_NUM_SQL } from "../postgres/capabilities.js";
import { type ConnectionTarget, withConnection } from "../postgres/connection.js";
import { MIGRATION_SCHEMA_LOCK } from "./database-setup.js";
import { isSkipped, type Migration, migrationsFor } from "./migrations.js";

export interface RunMigrationsOptions {
  target: ConnectionTarget;
  log: Logger;
  privilegedRole: string;
  onFailure: (migrationId: number) => void;
  applicationName?: string;
  /** The list to apply; defaults to the agent's migrations (tests pass their own). */
  migrations?: readonly Migration[];
}

export interface MigrationsReport {
  /** Ids applied (or skipped as placeholders) by this run. */
  applied: number[];
  /** The id that failed, or null. */
  failed: number | null;
  /** Why the run stopped early (a failed migration, or no connection / tracking table), or null. */
  error: string | null;
}

async function prepare(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ ok: boolean }>(
    "SELECT pg_catalog.to_regclass('neon_migration.migration_id') IS NOT NULL AS ok",
  );
  if (rows[0].ok) return;
  await client.query(`${MIGRATION_SCHEMA_LOCK};
CREATE SCHEMA IF NOT EXISTS neon_migration;
CREATE TABLE IF NOT EXISTS neon_migration.migration_id (key int4 NOT NULL PRIMARY KEY, id int8 NOT NULL DEFAULT 0);
INSERT INTO neon_migration.migration_id VALUES (0, 0) ON CONFLICT DO NOTHING;
REVOKE ALL ON SCHEMA neon_migration FROM PUBLIC`);
}

/** Runs migration `m` unless already applied; returns whether it ran. */
async function applyOne(client: pg.Client, m: Migration, log: Logger): Promise<boolean> {
  await client.query("BEGIN");
  try {
    const { rows } = await client.query<{ id: string }>(
      "SELECT id FROM neon_migration.migration_id WHERE key = 0 FOR UPDATE",
    );
    if (Number(rows[0].id) >= m.id) {
      await client.query("ROLLBACK");
      return false;
    }
    if (isSkipped(m)) log.info({ migration_id: m.id }, "skipping migration");
    else {
      log.info({ migration_id: m.id }, "running migration");
      await client.query(m.sql);
    }
    await client.query("UPDATE neon_migration.migration_id SET id = $1 WHERE key = 0", [m.id]);
    await client.query("COMMIT");
    return true;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
}

export async function runMigrations(opts: RunMigrationsOptions): Promise<MigrationsReport> {
  const report: MigrationsReport = { applied: [], failed: null, error: null };
  const applicationName = opts.applicationName ?? "compute_ctl:migrations";
  let current: Migration | null = null;
  try {
    await withConnection(opts.target, { applicationName }, async (client) => {
      await prepare(client);
      const { rows } = await client.query<{ id: string }>(
        "SELECT id FROM neon_migration.migration_id WHERE key = 0",
      );
      let migrations = opts.migrations;
      if (!migrations) {
        const version = await client.query<{ v: number }>(SERVER_VERSION_NUM_SQL);
        migrations = migrationsFor(opts.privilegedRole, capabilitiesOf(version.rows[0].v));
      }
      const done = Number(rows[0].id);
      for (const m of migrations) {
        if (m.id <= done) continue;
        current = m;
        if (await applyOne(client, m, opts.log)) report.applied.push(m.id);
      }
      current = null;
    });
  } catch (err) {
    report.error = err instanceof Error ? err.message : String(err);
    const failed = (current as Migration | null)?.id ?? null;
    if (failed === null) {
      opts.log.error({ err }, "migrations could not run; they will be retried on the next start");
    } else {
      report.failed = failed;
      opts.log.error({ migration_id: failed, err }, "migration failed; it will be retried on the next start");
      opts.onFailure(failed);
    }
  }
  return report;
}
