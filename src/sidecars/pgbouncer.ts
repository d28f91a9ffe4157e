// spec.pgbouncer_settings applied to a pgbouncer beside Postgres: each setting is SET through
// pgbouncer's admin console (it takes effect at once, and pgbouncer checks name and value), then
// the accepted ones are written into pgbouncer.ini so a restart keeps them. A setting pgbouncer
// refuses is reported and not persisted (it could stop pgbouncer from starting again). pgbouncer
// not running is a warning, never a failed compute, as in Neon. The admin password comes from
// $PGBOUNCER_PASSWORD and is never logged.
import { readFileSync, writeFileSync } from "node:fs";
import type pg from "pg";
import { parse } from "pg-connection-string";
import type { Logger } from "pino";
import * as load from "../loading/modules.js";
import { updatePgbouncerIni } from "./pgbouncer-ini.js";

export interface PgbouncerTarget {
  /** Admin console URL, e.g. postgresql://postgres@localhost:6432/pgbouncer (no password). */
  adminUrl: string;
  password: string | undefined;
  iniPath: string;
}

export interface PgbouncerOutcome {
  /** Settings pgbouncer took. */
  set: string[];
  /** Settings pgbouncer refused, with its error. */
  refused: { setting: string; error: string }[];
  /** The accepted settings are in pgbouncer.ini. */
  persisted: boolean;
}

/** A value as pgbouncer's admin SET takes it: single-quoted, quotes doubled. */
function adminValue(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

async function connectAdmin(target: PgbouncerTarget): Promise<pg.Client> {
  const c = parse(target.adminUrl);
  const { default: pgModule } = await load.pg();
  // Only the startup parameters pgbouncer's admin console accepts: no `options`.
  const client = new pgModule.Client({
    host: c.host ?? "localhost",
    port: Number(c.port ?? 6432),
    user: c.user ?? "postgres",
    database: c.database ?? "pgbouncer",
    password: target.password,
    connectionTimeoutMillis: 5000,
  });
  client.on("error", () => {});
  await client.connect();
  return client;
}

export async function applyPgbouncerSettings(
  settings: Readonly<Record<string, string>>,
  target: PgbouncerTarget,
  log: Logger,
  opts: { attempts?: number; retryDelayMs?: number } = {},
): Promise<PgbouncerOutcome | null> {
  const attempts = opts.attempts ?? 4;
  let client: pg.Client | null = null;
  for (let i = 1; i <= attempts && !client; i++) {
    try {
      client = await connectAdmin(target);
    } catch (err) {
      const why = (err as Error).message;
      if (i === attempts) {
        log.warn(
          { admin: target.adminUrl, attempts, error: why },
          "pgbouncer_settings not applied: cannot reach pgbouncer's admin console",
        );
        return null;
      }
      await new Promise((r) => setTimeout(r, opts.retryDelayMs ?? 1000));
    }
  }
  if (!client) return null;
  const outcome: PgbouncerOutcome = { set: [], refused: [], persisted: false };
  const accepted: Record<string, string> = {};
  try {
    for (const [key, value] of Object.entries(settings)) {
      try {
        await client.query(`SET ${key} = ${adminValue(value)}`);
        outcome.set.push(key);
        accepted[key] = value;
      } catch (err) {
        outcome.refused.push({ setting: key, error: (err as Error).message });
      }
    }
  } finally {
    await client.end().catch(() => {});
  }
  if (outcome.refused.length > 0)
    log.warn(
      { refused: outcome.refused },
      "pgbouncer refused some of pgbouncer_settings; they are not persisted",
    );
  if (outcome.set.length > 0) {
    try {
      const before = readFileSync(target.iniPath, "utf8");
      const after = updatePgbouncerIni(before, accepted);
      // In place: pgbouncer.ini keeps its owner and mode (it is often another user's file).
      if (after !== before) writeFileSync(target.iniPath, after);
      outcome.persisted = true;
    } catch (err) {
      log.warn(
        { ini: target.iniPath, error: (err as Error).message },
        "pgbouncer_settings are in effect but not persisted: a pgbouncer restart loses them",
      );
    }
  }
  log.info(
    { set: outcome.set, refused: outcome.refused.length, ini: target.iniPath },
    "pgbouncer settings applied",
  );
  return outcome;
}
