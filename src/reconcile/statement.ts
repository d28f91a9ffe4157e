// One planned SQL statement together with what it means, so a failure can name the object and
// the kind of change ("failed to create database "x": ...") and the report can show the
// statement without the password it may carry.
import { quoteIdent } from "../postgres/quote.js";

export interface PlannedStatement {
  sql: string;
  /** The statement as reported and logged: set when `sql` carries a secret. */
  redacted?: string;
  /** The change, as a verb phrase naming the object kind: "create database", "drop role". */
  action: string;
  /** The object's name as in the spec. */
  object: string;
}

export function statement(action: string, object: string, sql: string, redacted?: string): PlannedStatement {
  return redacted === undefined ? { action, object, sql } : { action, object, sql, redacted };
}

/** The text that may be shown: never the password. */
export function displayed(s: PlannedStatement): string {
  return s.redacted ?? s.sql;
}

/** A failed statement of a spec apply: the object, the change and (if not the system one) the database. */
export class ReconcileError extends Error {
  override readonly name = "ReconcileError";
  constructor(
    readonly action: string,
    readonly object: string,
    readonly database: string | null,
    readonly sqlState: string | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    const where = database === null ? "" : ` in database ${quoteIdent(database)}`;
    super(`failed to ${action} ${quoteIdent(object)}${where}: ${detail}`, options);
  }
}

export function failedStatement(s: PlannedStatement, database: string | null, err: unknown): ReconcileError {
  const e = err as { message?: string; code?: string };
  return new ReconcileError(s.action, s.object, database, e.code, e.message ?? String(err), { cause: err });
}
