// GET /insights: the top 100 statements of pg_stat_statements by mean execution + planning time.
// Without the extension (not created, or not in shared_preload_libraries) the answer is an empty
// list with the reason, not an error: insights are optional on vanilla Postgres. The agent's own
// role is left out (its catalog work is not the user's workload).
//
// Two forms of the same rows: `pg_stat_statements` for the gRPC API (queryid as a string, since
// it is 64-bit) and `neonText`, Neon's document text `{"pg_stat_statements": [row_to_json...]}`
// with every number (queryid included) exactly as Postgres prints it; REST sends that text as a
// JSON string, as Neon does.

import { OperationError } from "../errors/operation-error.js";
import { type ConnectionTarget, withConnection } from "../postgres/connection.js";
import { quoteIdent } from "../postgres/quote.js";

export interface InsightsResult {
  /** One object per statement, pg_stat_statements' columns (queryid as a string: it is 64-bit; oids as numbers). */
  pg_stat_statements: Record<string, unknown>[];
  /** Why the list is empty when the extension is not usable; absent otherwise. */
  reason?: string;
  /** Neon's /insights document as text (row_to_json of each row; `reason` added when set). */
  neonText: string;
}

function neonDocument(rowTexts: string[], reason?: string): string {
  const extra = reason === undefined ? "" : `, "reason": ${JSON.stringify(reason)}`;
  return `{"pg_stat_statements": [${rowTexts.join(",")}]${extra}}`;
}

function empty(reason: string): InsightsResult {
  return { pg_stat_statements: [], reason, neonText: neonDocument([], reason) };
}

const NOT_LOADED = "55000"; // object_not_in_prerequisite_state: "must be loaded via shared_preload_libraries"

export async function collectInsights(target: ConnectionTarget): Promise<InsightsResult> {
  return withConnection(target, { applicationName: "compute_ctl:insights" }, async (client) => {
    const ext = await client.query<{ schema: string; db: string }>(
      `SELECT n.nspname AS schema, pg_catalog.current_database() AS db
         FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_stat_statements'`,
    );
    if (ext.rowCount === 0) {
      const db = (await client.query<{ db: string }>("SELECT pg_catalog.current_database() AS db")).rows[0]
        .db;
      return empty(`the pg_stat_statements extension is not installed in database ${JSON.stringify(db)}`);
    }
    const view = `${quoteIdent(ext.rows[0].schema)}.pg_stat_statements`;
    try {
      const { rows } = await client.query<{ row: Record<string, unknown>; neon: string }>(
        `SELECT pg_catalog.to_jsonb(s) || pg_catalog.jsonb_build_object('queryid', s.queryid::text, 'userid', s.userid::int8, 'dbid', s.dbid::int8) AS row,
                pg_catalog.row_to_json(s)::text AS neon
           FROM ${view} s
          WHERE s.userid <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
          ORDER BY s.mean_exec_time + s.mean_plan_time DESC
          LIMIT 100`,
      );
      return {
        pg_stat_statements: rows.map((r) => r.row),
        neonText: neonDocument(rows.map((r) => r.neon)),
      };
    } catch (err) {
      if ((err as { code?: string }).code === NOT_LOADED) {
        return empty("pg_stat_statements is not loaded: add it to shared_preload_libraries and restart");
      }
      throw new OperationError("internal", `reading pg_stat_statements failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  });
}
