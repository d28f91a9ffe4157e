// Planning of database changes: drop half-dropped (invalid) databases, apply `rename_db` and
// `delete_db` in list order, create the spec's missing databases (with options and owner, then
// ALL privileges for the privileged role) and change owners that differ. A database merely
// absent from the spec is never dropped; a delta on a database that does not exist is a no-op.
import { capabilitiesOf, versionText } from "../postgres/capabilities.js";
import { quoteIdent } from "../postgres/quote.js";
import type { Database, DeltaOp } from "../spec/types.js";
import type { CatalogModel, ModelDatabase } from "./catalog-model.js";
import type { CatalogSnapshot } from "./catalog-snapshot.js";
import { PlanError } from "./plan-error.js";
import type { DatabaseTask } from "./plan-types.js";
import { OptionError, optionKey, renderOptions } from "./sql-options.js";
import { type PlannedStatement, statement } from "./statement.js";
import { subscriptionDropStatements } from "./subscription-drops.js";

function dropDatabase(name: string): PlannedStatement {
  return statement("drop database", name, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

export function planDropInvalid(model: CatalogModel): PlannedStatement[] {
  const out: PlannedStatement[] = [];
  for (const d of [...model.databases.values()]) {
    if (!d.invalid) continue;
    out.push(dropDatabase(d.name));
    model.databases.delete(d.name);
  }
  return out;
}

export interface DatabaseDeltaPlan {
  /** System-database statements that let us connect where subscriptions must be dropped. */
  prepare: PlannedStatement[];
  /** Per database (by its name before any rename): drop its subscriptions, keeping the publisher's slot. */
  subscriptionDrops: DatabaseTask[];
  statements: PlannedStatement[];
}

export function planDatabaseDeltas(
  model: CatalogModel,
  snapshot: CatalogSnapshot,
  deltas: readonly DeltaOp[],
): DatabaseDeltaPlan {
  const plan: DatabaseDeltaPlan = { prepare: [], subscriptionDrops: [], statements: [] };
  const snapshotName = new Map(snapshot.databases.map((d) => [d.oid, d.name]));
  deltas.forEach((op, i) => {
    if (op.action === "rename_db") {
      if (!op.new_name) throw new PlanError(`delta_operations[${i}].new_name`, "rename_db needs a new_name");
      const db = model.databases.get(op.name);
      if (!db || op.name === op.new_name) return;
      plan.statements.push(
        statement(
          "rename database",
          op.name,
          `ALTER DATABASE ${quoteIdent(op.name)} RENAME TO ${quoteIdent(op.new_name)}`,
        ),
      );
      model.renameDatabase(db, op.new_name);
    } else if (op.action === "delete_db") {
      const db = model.databases.get(op.name);
      if (!db) return;
      const subs = db.oid === null ? [] : snapshot.subscriptions.filter((s) => s.databaseOid === db.oid);
      if (subs.length > 0 && db.oid !== null) {
        const original = snapshotName.get(db.oid) ?? db.name;
        if (!db.allowConnections) {
          plan.prepare.push(
            statement(
              "allow connections to database",
              original,
              `ALTER DATABASE ${quoteIdent(original)} ALLOW_CONNECTIONS true`,
            ),
          );
        }
        plan.subscriptionDrops.push({
          database: original,
          mode: "sequential",
          statements: subscriptionDropStatements(subs.map((s) => s.name)),
        });
      }
      if (db.isTemplate) {
        plan.statements.push(
          statement(
            "clear template flag of database",
            op.name,
            `ALTER DATABASE ${quoteIdent(op.name)} IS_TEMPLATE false`,
          ),
        );
      }
      plan.statements.push(dropDatabase(op.name));
      model.databases.delete(op.name);
    }
  });
  return plan;
}

function databaseOptions(db: Database, index: number): string {
  try {
    return renderOptions(db.options);
  } catch (err) {
    if (err instanceof OptionError) throw new PlanError(`cluster.databases[${index}].options`, err.message);
    throw err;
  }
}

function allowsConnections(db: Database): boolean {
  const opt = db.options?.find((o) => optionKey(o) === "ALLOW_CONNECTIONS");
  return !opt || !/^(false|off|no|0)$/i.test(opt.value ?? "");
}

/** The template CREATE DATABASE copies: the TEMPLATE option, else template1. */
function templateOf(db: Database): string {
  const opt = db.options?.find((o) => optionKey(o) === "TEMPLATE");
  if (!opt?.value) return "template1";
  // An unquoted identifier folds to lower case; a string literal is taken as written.
  return opt.vartype === "string" ? opt.value : opt.value.toLowerCase();
}

export interface DatabaseCreatePlan {
  creates: PlannedStatement[];
  /** Databases this plan creates, with the template each is copied from. */
  created: { name: string; template: string }[];
  /** Owner changes and privileges for the privileged role; run after the creates. */
  alters: PlannedStatement[];
}

/**
 * From this many new databases on, they are copied with STRATEGY FILE_COPY: a file copy plus
 * forced checkpoints, which concurrent creates share, instead of writing the whole template to
 * WAL for each (Postgres' default, WAL_LOG). A first start with 100 databases goes several
 * times faster; a single database added to a busy compute keeps the default and forces no
 * checkpoint. A STRATEGY in the spec's options always wins.
 */
export const BULK_CREATE = 4;

/**
 * How new databases are copied from their template:
 * - `bulk`: FILE_COPY from BULK_CREATE new databases on, WAL_LOG below;
 * - `file_copy`: always FILE_COPY. With `fsync = off` its checkpoints cost next to nothing and
 *   a create is several times faster (docs/benchmarks.md, spec apply);
 * - `wal_log`: never FILE_COPY. Neon storage knows only what is WAL-logged.
 * - `unsupported`: PostgreSQL 14 has no STRATEGY option (every create copies files).
 */
export type CreateStrategy = "bulk" | "file_copy" | "wal_log" | "unsupported";

/** What of the server decides how databases are created (a CatalogSnapshot has it). */
export interface CreateServer {
  serverVersion: number;
  preloadLibraries: readonly string[];
  fsync: boolean;
}

export function createStrategy(snapshot: CreateServer): CreateStrategy {
  if (!capabilitiesOf(snapshot.serverVersion).createDatabaseStrategy) return "unsupported";
  if (snapshot.preloadLibraries.includes("neon")) return "wal_log";
  return snapshot.fsync ? "bulk" : "file_copy";
}

export function planDatabases(
  model: CatalogModel,
  databases: readonly Database[],
  privilegedRole: string,
  server: CreateServer,
): DatabaseCreatePlan {
  const strategy = createStrategy(server);
  const plan: DatabaseCreatePlan = { creates: [], created: [], alters: [] };
  const missing: { db: Database; index: number }[] = [];
  databases.forEach((db, index) => {
    const existing: ModelDatabase | undefined = model.databases.get(db.name);
    if (strategy === "unsupported" && db.options?.some((o) => optionKey(o) === "STRATEGY")) {
      throw new PlanError(
        `cluster.databases[${index}].options`,
        `STRATEGY needs PostgreSQL 15 or later (this server is ${versionText(server.serverVersion)})`,
      );
    }
    if (!existing) {
      if (!missing.some((m) => m.db.name === db.name)) missing.push({ db, index });
      return;
    }
    if (existing.owner !== db.owner) {
      plan.alters.push(
        statement(
          "alter owner of database",
          db.name,
          `ALTER DATABASE ${quoteIdent(db.name)} OWNER TO ${quoteIdent(db.owner)}`,
        ),
      );
      existing.owner = db.owner;
    }
  });
  const fileCopy = strategy === "file_copy" || (strategy === "bulk" && missing.length >= BULK_CREATE);
  for (const { db, index } of missing) {
    const name = quoteIdent(db.name);
    const options = databaseOptions(db, index);
    const clause =
      fileCopy && !db.options?.some((o) => optionKey(o) === "STRATEGY") ? "STRATEGY FILE_COPY" : "";
    const sql = [`CREATE DATABASE ${name}`, options, clause, `OWNER ${quoteIdent(db.owner)}`]
      .filter(Boolean)
      .join(" ");
    plan.creates.push(statement("create database", db.name, sql));
    plan.created.push({ name: db.name, template: templateOf(db) });
    plan.alters.push(
      statement(
        "grant privileges on database",
        db.name,
        `GRANT ALL PRIVILEGES ON DATABASE ${name} TO ${quoteIdent(privilegedRole)}`,
      ),
    );
    model.databases.set(db.name, {
      oid: null,
      name: db.name,
      owner: db.owner,
      isTemplate: false,
      allowConnections: allowsConnections(db),
      invalid: false,
    });
  }
  return plan;
}
