// Planning of `delete_role`: in every database where the role owns objects or holds privileges,
// reassign, revoke and drop what ties it down, then drop the role. pg_shdepend (a shared
// catalog) says which databases those are, so databases without references are not visited.
// The system database goes first: its REASSIGN OWNED also moves shared objects (databases the
// role owns, tablespaces), which then belong to the system database's owner.
import { quoteIdent } from "../postgres/quote.js";
import type { DeltaOp } from "../spec/types.js";
import type { CatalogModel, ModelRole } from "./catalog-model.js";
import type { CatalogSnapshot } from "./catalog-snapshot.js";
import { roleReferenceStatements } from "./role-references.js";
import { type PlannedStatement, statement } from "./statement.js";

export interface RoleDeletionPlan {
  /** Statements for the system database. */
  system: PlannedStatement[];
  /** Statements per other database (by current name). */
  perDatabase: Map<string, PlannedStatement[]>;
  drops: PlannedStatement[];
}

/** Existing roles named by `delete_role` ops, in list order, without repeats. */
export function rolesToDelete(model: CatalogModel, deltas: readonly DeltaOp[]): ModelRole[] {
  const seen = new Set<string>();
  const out: ModelRole[] = [];
  for (const op of deltas) {
    if (op.action !== "delete_role" || seen.has(op.name)) continue;
    seen.add(op.name);
    const role = model.roles.get(op.name);
    if (role) out.push(role);
  }
  return out;
}

export function planRoleDeletion(
  model: CatalogModel,
  snapshot: CatalogSnapshot,
  deltas: readonly DeltaOp[],
): RoleDeletionPlan {
  const plan: RoleDeletionPlan = { system: [], perDatabase: new Map(), drops: [] };
  const roles = rolesToDelete(model, deltas);
  if (roles.length === 0) return plan;
  const deleting = new Set(roles.map((r) => r.name));
  const system = model.databases.get(snapshot.systemDatabase);
  const systemOwner = system?.owner ?? snapshot.agentUser;
  const systemOid = system?.oid ?? -1;

  // A dependency on a database dropped by this plan (ownership of it, a grant on it) is gone.
  const dependencies = (role: ModelRole) =>
    new Set(
      snapshot.roleDependencies
        .filter((d) => d.roleOid === role.oid && (d.onDatabase === null || model.databaseByOid(d.onDatabase)))
        .map((d) => d.databaseOid),
    );

  // First the system database, so later steps see who owns each database afterwards.
  for (const role of roles) {
    const dbOids = dependencies(role);
    if (!dbOids.has(0) && !dbOids.has(systemOid)) continue;
    // If the system database's owner is itself being deleted, DROP ROLE will fail and name
    // what is left rather than us handing objects to a role about to go.
    if (deleting.has(systemOwner)) continue;
    plan.system.push(...roleReferenceStatements(role.name, systemOwner));
    for (const d of model.databases.values()) if (d.owner === role.name) d.owner = systemOwner;
  }
  for (const role of roles) {
    for (const dbOid of dependencies(role)) {
      if (dbOid === 0 || dbOid === systemOid) continue;
      const db = model.databaseByOid(dbOid);
      // Gone, or unreachable: nothing we can do there (DROP ROLE will report what is left).
      if (!db?.allowConnections || db.invalid) continue;
      // Never DROP OWNED inside a database whose owner is being deleted: that is its data.
      if (deleting.has(db.owner)) continue;
      const list = plan.perDatabase.get(db.name) ?? [];
      list.push(...roleReferenceStatements(role.name, db.owner));
      plan.perDatabase.set(db.name, list);
    }
  }
  for (const role of roles) {
    plan.drops.push(statement("drop role", role.name, `DROP ROLE IF EXISTS ${quoteIdent(role.name)}`));
    model.roles.delete(role.name);
  }
  return plan;
}
