// Spec reconciliation: roles, databases, delta operations, per-database setup, cluster
// migrations, and the catalog-facing API operations (/dbs_and_roles, /grants, /extensions).

export { type CatalogSnapshot, readCatalogSnapshot } from "./catalog-snapshot.js";
export { type ExtensionRequest, installExtension } from "./install-extension.js";
export { listDbsAndRoles } from "./list-dbs-and-roles.js";
export { type Migration, migrationsFor } from "./migrations.js";
export { PlanError } from "./plan-error.js";
export { type PlanInput, planSpec } from "./plan-spec.js";
export type { Phase, PhaseName, Plan } from "./plan-types.js";
export {
  type PhaseReport,
  type ReconcileOptions,
  type ReconcileReport,
  reconcileSpec,
} from "./reconcile-spec.js";
export { type MigrationsReport, type RunMigrationsOptions, runMigrations } from "./run-migrations.js";
export { type SchemaGrantsRequest, setSchemaGrants } from "./schema-grants.js";
export { type PlannedStatement, ReconcileError } from "./statement.js";
