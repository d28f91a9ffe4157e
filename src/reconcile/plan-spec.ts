// Spec + catalog snapshot -> plan (Neon's apply_spec_sql phase order, without its bugs). Pure:
// no I/O, so every decision is testable as data. Delta operations keep list order within their
// kind: role renames come before spec roles are created, database renames and deletions before
// spec databases are created, and role deletions last, after databases changed owners.
import { quoteIdent } from "../postgres/quote.js";
import { auditLibraries } from "../spec/audit-conf.js";
import type { ComputeSpecJson } from "../spec/types.js";
import { CatalogModel, type ModelDatabase } from "./catalog-model.js";
import type { CatalogSnapshot } from "./catalog-snapshot.js";
import {
  createSetupTableStatements,
  DATABASE_SETUP_VERSION,
  databaseSetupStatement,
  recordSetupStatements,
} from "./database-setup.js";
import { planDatabaseDeltas, planDatabases, planDropInvalid } from "./plan-databases.js";
import { PlanError } from "./plan-error.js";
import { planRoleDeletion } from "./plan-role-deletion.js";
import { planRoleRenames, planRoles } from "./plan-roles.js";
import type { DatabaseTask, Phase, PhaseName, Plan, SqlMode } from "./plan-types.js";
import { privilegedRoleStatements } from "./privileged-role.js";
import { type PlannedStatement, statement } from "./statement.js";
import { recordDropStatements, subscriptionDropStatements } from "./subscription-drops.js";

export interface PlanInput {
  spec: ComputeSpecJson;
  snapshot: CatalogSnapshot;
  privilegedRole: string;
  /**
   * drop_subscriptions_before_start in this apply (a start of a primary whose Postgres keeps
   * subscription workers from starting, see subscription-drops.ts): the branch's key, or null.
   */
  dropSubscriptions?: { key: string | null };
}

/** Postgres truncates longer names (NAMEDATALEN - 1), which would never match the spec again. */
const MAX_NAME_BYTES = 63;
const TEMPLATE = "template1";

function checkName(path: string, name: string): void {
  if (Buffer.byteLength(name, "utf8") > MAX_NAME_BYTES) {
    throw new PlanError(path, `name ${JSON.stringify(name)} is longer than ${MAX_NAME_BYTES} bytes`);
  }
}

function checkNames(spec: ComputeSpecJson, privilegedRole: string): void {
  spec.cluster.roles.forEach((r, i) => {
    checkName(`cluster.roles[${i}].name`, r.name);
    // A spec role would make it LOGIN, the privileged role phase NOLOGIN again, on every apply.
    if (r.name === privilegedRole) throw new PlanError(`cluster.roles[${i}].name`, "is the privileged role");
  });
  spec.cluster.databases.forEach((d, i) => {
    checkName(`cluster.databases[${i}].name`, d.name);
    checkName(`cluster.databases[${i}].owner`, d.owner);
  });
  (spec.delta_operations ?? []).forEach((op, i) => {
    checkName(`delta_operations[${i}].name`, op.name);
    if (op.new_name) checkName(`delta_operations[${i}].new_name`, op.new_name);
  });
}

/**
 * The audit extensions in the system database and `pgaudit.log = none` as its default (Neon's
 * order: the agent's own work stays out of the audit log), once the libraries are preloaded; a
 * level set on a running compute without them waits for the next start.
 */
function auditStatements(
  spec: ComputeSpecJson,
  snapshot: CatalogSnapshot,
  warnings: string[],
): PlannedStatement[] {
  const libs = auditLibraries(spec.audit_log_level);
  if (libs.length === 0) return [];
  const missing = libs.filter((l) => !snapshot.preloadLibraries.includes(l));
  if (missing.length > 0) {
    warnings.push(
      `audit_log_level ${spec.audit_log_level} takes effect at the next start: ${missing.join(", ")} not in the running server's shared_preload_libraries`,
    );
    return [];
  }
  const out = libs
    .filter((l) => !snapshot.systemExtensions.includes(l))
    .map((l) => statement("create extension", l, `CREATE EXTENSION IF NOT EXISTS ${l} WITH SCHEMA public`));
  if (!snapshot.systemAuditOff)
    out.push(
      statement(
        "turn auditing off for the agent's database",
        snapshot.systemDatabase,
        `ALTER DATABASE ${quoteIdent(snapshot.systemDatabase)} SET pgaudit.log TO 'none'`,
      ),
    );
  return out;
}

/** Per database with subscriptions (not deleted by this spec anyway): drop them. */
function planStartupSubscriptionDrops(spec: ComputeSpecJson, snapshot: CatalogSnapshot): DatabaseTask[] {
  const deleted = new Set(
    (spec.delta_operations ?? []).filter((op) => op.action === "delete_db").map((op) => op.name),
  );
  const byOid = new Map(snapshot.databases.map((d) => [d.oid, d]));
  const perDb = new Map<string, string[]>();
  for (const sub of snapshot.subscriptions) {
    const db = byOid.get(sub.databaseOid);
    // Neon skips databases that take no connections (their workers cannot start either).
    if (!db?.allowConnections || db.invalid || deleted.has(db.name)) continue;
    perDb.set(db.name, [...(perDb.get(db.name) ?? []), sub.name]);
  }
  return [...perDb].map(([database, subs]) => ({
    database,
    mode: "sequential",
    statements: subscriptionDropStatements(subs),
  }));
}

function systemObjectStatements(snapshot: CatalogSnapshot): PlannedStatement[] {
  const out: PlannedStatement[] = [];
  if (!snapshot.setupTable) out.push(...createSetupTableStatements());
  if (snapshot.preloadLibraries.includes("pg_stat_statements") && !snapshot.pgStatStatementsInstalled) {
    out.push(
      statement(
        "create extension",
        "pg_stat_statements",
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA public",
      ),
    );
  }
  return out;
}

interface SetupPlan {
  /** Set up template1 before databases are copied from it. */
  template: DatabaseTask[];
  /** Per database (by name): setup statements. */
  tasks: Map<string, PlannedStatement[]>;
  /** Databases that are set up once the plan has run (recorded by oid afterwards). */
  recorded: string[];
}

/** Which spec databases need the per-database setup, and which inherit it from template1. */
function planSetup(
  model: CatalogModel,
  snapshot: CatalogSnapshot,
  spec: ComputeSpecJson,
  created: { name: string; template: string }[],
  privilegedRole: string,
): SetupPlan {
  const plan: SetupPlan = { template: [], tasks: new Map(), recorded: [] };
  const version = new Map(snapshot.databaseSetup.map((s) => [s.databaseOid, s.version]));
  const isSetUp = (d: ModelDatabase) => d.oid !== null && (version.get(d.oid) ?? 0) >= DATABASE_SETUP_VERSION;
  const reachable = (d: ModelDatabase | undefined): d is ModelDatabase =>
    d?.allowConnections === true && !d.invalid;

  const template = model.databases.get(TEMPLATE);
  let templateReady = template !== undefined && isSetUp(template);
  if (!templateReady && reachable(template) && created.some((c) => c.template === TEMPLATE)) {
    plan.template.push({
      database: TEMPLATE,
      mode: "batch",
      statements: [databaseSetupStatement(TEMPLATE, privilegedRole)],
    });
    plan.recorded.push(TEMPLATE);
    templateReady = true;
  }
  const copiedFromTemplate = new Set(created.filter((c) => c.template === TEMPLATE).map((c) => c.name));
  const seen = new Set<string>();
  for (const specDb of spec.cluster.databases) {
    const db = model.databases.get(specDb.name);
    if (!reachable(db) || seen.has(db.name)) continue;
    seen.add(db.name);
    if (isSetUp(db)) continue;
    plan.recorded.push(db.name);
    if (templateReady && copiedFromTemplate.has(db.name)) continue;
    plan.tasks.set(db.name, [databaseSetupStatement(db.name, privilegedRole)]);
  }
  return plan;
}

export function planSpec({ spec, snapshot, privilegedRole, dropSubscriptions }: PlanInput): Plan {
  const warnings: string[] = [];
  const dropAtStart = dropSubscriptions !== undefined && !snapshot.subscriptionsDropped;
  checkNames(spec, privilegedRole);
  const model = new CatalogModel(snapshot);
  const deltas = spec.delta_operations ?? [];

  const privileged = privilegedRoleStatements(snapshot, privilegedRole);
  const invalidDrops = planDropInvalid(model);
  const roleRenames = planRoleRenames(model, deltas);
  const jwtRoles = new Set(spec.local_proxy_config?.jwks?.flatMap((j) => j.role_names) ?? []);
  const roleChanges = planRoles(model, spec.cluster.roles, privilegedRole, jwtRoles);
  const dbDeltas = planDatabaseDeltas(model, snapshot, deltas);
  const dbChanges = planDatabases(model, spec.cluster.databases, privilegedRole, snapshot);
  const setup = planSetup(model, snapshot, spec, dbChanges.created, privilegedRole);
  const deletion = planRoleDeletion(model, snapshot, deltas);

  // One connection per database: its role references first, then its setup.
  const work = deletion.perDatabase;
  for (const [database, statements] of setup.tasks)
    work.set(database, [...(work.get(database) ?? []), ...statements]);
  const liveOids = new Set([...model.databases.values()].map((d) => d.oid));
  const forgetDropped = snapshot.databaseSetup.some((s) => !liveOids.has(s.databaseOid));

  const phases: Phase[] = [];
  const sql = (name: PhaseName, mode: SqlMode, statements: PlannedStatement[]) => {
    if (statements.length > 0) phases.push({ name, kind: "sql", mode, statements });
  };
  const perDatabase = (name: PhaseName, tasks: DatabaseTask[]) => {
    if (tasks.length > 0) phases.push({ name, kind: "per_database", tasks });
  };
  sql("privileged_role", "batch", privileged);
  // Subscriptions go while their databases still have the names they had at snapshot time.
  sql("prepare_subscription_drops", "batch", dbDeltas.prepare);
  perDatabase("drop_subscriptions", dbDeltas.subscriptionDrops);
  if (dropAtStart)
    perDatabase("drop_subscriptions_before_start", planStartupSubscriptionDrops(spec, snapshot));
  sql("drop_invalid_databases", "sequential", invalidDrops);
  sql("rename_roles", "batch", roleRenames);
  sql("create_alter_roles", "batch", roleChanges);
  sql("rename_delete_databases", "sequential", dbDeltas.statements);
  perDatabase("set_up_template", setup.template);
  sql("create_databases", "parallel", dbChanges.creates);
  sql("alter_databases", "batch", dbChanges.alters);
  sql("system_objects", "batch", [
    ...systemObjectStatements(snapshot),
    ...auditStatements(spec, snapshot, warnings),
  ]);
  sql("system_database_references", "batch", deletion.system);
  perDatabase(
    "per_database",
    [...work].map(([database, statements]) => ({ database, mode: "batch", statements })),
  );
  sql("record_database_setup", "batch", recordSetupStatements(setup.recorded, forgetDropped));
  sql("drop_roles", "batch", deletion.drops);
  if (dropAtStart && dropSubscriptions.key !== null)
    sql("record_subscriptions_dropped", "batch", recordDropStatements(dropSubscriptions.key));
  return warnings.length > 0 ? { phases, warnings } : { phases };
}
