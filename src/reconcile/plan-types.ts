// The plan a spec becomes: named phases run strictly in order, each a list of statements with
// how to run them. Pure data, so spec + snapshot -> plan is tested without a database.
import type { PlannedStatement } from "./statement.js";

export type PhaseName =
  | "privileged_role"
  | "prepare_subscription_drops"
  | "drop_subscriptions"
  | "drop_subscriptions_before_start"
  | "drop_invalid_databases"
  | "rename_roles"
  | "create_alter_roles"
  | "rename_delete_databases"
  | "set_up_template"
  | "create_databases"
  | "alter_databases"
  | "system_objects"
  | "system_database_references"
  | "per_database"
  | "record_database_setup"
  | "drop_roles"
  | "record_subscriptions_dropped";

/**
 * How a phase's statements run on the system database:
 * - `batch`: one multi-statement query, i.e. one round trip and one implicit transaction;
 * - `sequential`: one statement at a time (for what cannot run in a transaction block);
 * - `parallel`: one statement per connection, up to the apply's concurrency (CREATE DATABASE).
 */
export type SqlMode = "batch" | "sequential" | "parallel";

export interface SqlPhase {
  name: PhaseName;
  kind: "sql";
  mode: SqlMode;
  statements: PlannedStatement[];
}

/** Work inside one database, on a connection to it. */
export interface DatabaseTask {
  database: string;
  mode: "batch" | "sequential";
  statements: PlannedStatement[];
}

/** Tasks in different databases, run in parallel up to the apply's concurrency. */
export interface PerDatabasePhase {
  name: PhaseName;
  kind: "per_database";
  tasks: DatabaseTask[];
}

export type Phase = SqlPhase | PerDatabasePhase;

export interface Plan {
  /** Only phases with something to do; an unchanged spec plans none. */
  phases: Phase[];
  /** What the spec asks for that this apply cannot do (logged by the caller). */
  warnings?: string[];
}
