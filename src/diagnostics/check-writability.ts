// POST /check_writability: proves the compute accepts writes by upserting the one row of
// public.health_check (created on first use). A full disk (SQLSTATE 53100) counts as writable,
// as in Neon: the compute itself is healthy, and restarting it - what a failed check leads
// the control plane to do - would not free any space.
import type { Logger } from "pino";
import { OperationError } from "../errors/operation-error.js";
import { type ConnectionTarget, withConnection } from "../postgres/connection.js";

const CREATE = `CREATE TABLE IF NOT EXISTS public.health_check (
  id integer PRIMARY KEY,
  updated_at timestamptz
)`;
const UPSERT =
  "INSERT INTO public.health_check VALUES (1, pg_catalog.now()) ON CONFLICT (id) DO UPDATE SET updated_at = pg_catalog.now()";

const DISK_FULL = "53100";
/** A concurrent CREATE TABLE IF NOT EXISTS can still lose the race on the catalog's unique indexes. */
const CREATE_RACE = new Set(["23505", "42P07"]);

function code(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

export async function checkWritability(target: ConnectionTarget, log: Logger): Promise<void> {
  try {
    await withConnection(target, { applicationName: "compute_ctl:check_writability" }, async (client) => {
      const { rows } = await client.query<{ t: string | null }>(
        "SELECT pg_catalog.to_regclass('public.health_check')::text AS t",
      );
      if (rows[0].t === null) {
        await client.query(CREATE).catch((err: unknown) => {
          if (!CREATE_RACE.has(code(err) ?? "")) throw err;
        });
      }
      const res = await client.query(UPSERT);
      if (res.rowCount !== 1) throw new Error(`expected one row written, got ${res.rowCount}`);
    });
  } catch (err) {
    if (code(err) === DISK_FULL) {
      log.warn({ error: (err as Error).message }, "check_writability: disk full, counted as writable");
      return;
    }
    throw new OperationError("internal", `compute is not writable: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
