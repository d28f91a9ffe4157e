// Per-database setup of a spec database (Neon's ChangeSchemaPerms, as it applies to vanilla
// PG15+): schema `public` belongs to the database owner, and objects the agent itself creates
// there later (CREATE EXTENSION via /extensions) are usable by the privileged role. Which
// databases are set up is recorded, by database oid, in `neon_migration.database_setup` in the
// system database, so a re-apply knows without connecting to every database; a dropped and
// re-created database has a new oid and is set up again. CREATE DATABASE copies its template,
// default privileges included, so once template1 is set up, databases created from it are set
// up too and need no connection of their own.
import { quoteDollar, quoteIdent, quoteLiteral } from "../postgres/quote.js";
import { type PlannedStatement, statement } from "./statement.js";

/** Bump when the setup statements change, so existing databases get the new version. */
export const DATABASE_SETUP_VERSION = 1;

export function databaseSetupStatement(database: string, privilegedRole: string): PlannedStatement {
  const priv = quoteIdent(privilegedRole);
  // PG15 initdb makes pg_database_owner own `public`; a schema the agent owns (restored, or
  // created by it) goes back to pg_database_owner, i.e. to whoever owns the database (Neon
  // hands it to the owner by name; ownership through pg_database_owner follows owner changes).
  const body = `
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_namespace
              WHERE nspname = 'public' AND nspowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)) THEN
    ALTER SCHEMA public OWNER TO pg_database_owner;
  END IF;
  IF EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = 'public') THEN
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO ${priv} WITH GRANT OPTION;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO ${priv} WITH GRANT OPTION;
  END IF;
END`;
  return statement("set up database", database, `DO ${quoteDollar(body)}`);
}

/** Serialises creation of `neon_migration` between the reconciler and the migration runner. */
export const MIGRATION_SCHEMA_LOCK = "SELECT pg_catalog.pg_advisory_xact_lock(4242, 1)";

export function createSetupTableStatements(): PlannedStatement[] {
  return [
    statement("lock", "neon_migration", MIGRATION_SCHEMA_LOCK),
    statement("create schema", "neon_migration", "CREATE SCHEMA IF NOT EXISTS neon_migration"),
    statement(
      "revoke privileges on schema",
      "neon_migration",
      "REVOKE ALL ON SCHEMA neon_migration FROM PUBLIC",
    ),
    statement(
      "create table",
      "neon_migration.database_setup",
      "CREATE TABLE IF NOT EXISTS neon_migration.database_setup (datoid oid PRIMARY KEY, version int4 NOT NULL)",
    ),
  ];
}

/** Records that these databases (by current name) are set up; forgets databases that are gone. */
export function recordSetupStatements(
  databases: readonly string[],
  forgetDropped: boolean,
): PlannedStatement[] {
  const out: PlannedStatement[] = [];
  if (forgetDropped) {
    out.push(
      statement(
        "forget dropped databases in",
        "neon_migration.database_setup",
        "DELETE FROM neon_migration.database_setup WHERE datoid NOT IN (SELECT oid FROM pg_catalog.pg_database)",
      ),
    );
  }
  if (databases.length > 0) {
    // New databases get their oid only when created, so the rows are keyed by name here.
    const names = databases.map(quoteLiteral).join(", ");
    out.push(
      statement(
        "record setup in",
        "neon_migration.database_setup",
        `INSERT INTO neon_migration.database_setup (datoid, version) SELECT oid, ${DATABASE_SETUP_VERSION} FROM pg_catalog.pg_database WHERE datname IN (${names}) ON CONFLICT (datoid) DO UPDATE SET version = excluded.version`,
      ),
    );
  }
  return out;
}
