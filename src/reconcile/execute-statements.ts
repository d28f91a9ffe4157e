// Runs planned statements on a connection and turns a failure into an error that names the
// object and the change. A batch is one multi-statement query (one round trip, one implicit
// transaction); Postgres does not say which statement of a batch failed, so on failure the
// batch (rolled back as a whole) is replayed statement by statement to find and name it.
import type pg from "pg";
import { failedStatement, type PlannedStatement } from "./statement.js";

export type Recorder = (s: PlannedStatement, database: string | null) => void;

export async function runStatement(
  client: pg.Client,
  s: PlannedStatement,
  database: string | null,
  record: Recorder,
): Promise<void> {
  try {
    await client.query(s.sql);
  } catch (err) {
    throw failedStatement(s, database, err);
  }
  record(s, database);
}

export async function runSequential(
  client: pg.Client,
  statements: readonly PlannedStatement[],
  database: string | null,
  record: Recorder,
): Promise<void> {
  for (const s of statements) await runStatement(client, s, database, record);
}

export async function runBatch(
  client: pg.Client,
  statements: readonly PlannedStatement[],
  database: string | null,
  record: Recorder,
): Promise<void> {
  if (statements.length <= 1) return runSequential(client, statements, database, record);
  try {
    await client.query(statements.map((s) => s.sql).join(";\n"));
  } catch {
    await runSequential(client, statements, database, record);
    return;
  }
  for (const s of statements) record(s, database);
}
