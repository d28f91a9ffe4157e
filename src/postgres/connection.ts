// Connections from the agent to its own Postgres. Every session neutralises per-database and
// per-role settings (`ALTER DATABASE ... SET default_transaction_read_only = on`, `role`,
// `search_path`, `statement_timeout`, `pgaudit.log`) so a user's settings cannot break the agent
// nor fill the audit log with the agent's own statements, and names
// itself with an application_name so it can be told apart in pg_stat_activity.
import type pg from "pg";
import { parse } from "pg-connection-string";
import * as load from "../loading/pg-loader.js";

export interface ConnectionTarget {
  /** The `-C/--connstr` URL. */
  connstr: string;
}

export interface ConnectOptions {
  database?: string;
  applicationName: string;
  /** Extra `-c` settings, e.g. { lock_timeout: "1s" }. */
  settings?: Record<string, string>;
  connectTimeoutMs?: number;
}

export interface ParsedConnstr {
  user: string;
  password: string | undefined;
  host: string;
  port: number;
  database: string;
}

/** Parses a libpq URL (`postgresql://user[:pw]@host:port/db`, `?host=/socket/dir&port=N`). */
export function parseConnstr(connstr: string): ParsedConnstr {
  if (!/^postgres(ql)?:\/\//.test(connstr)) throw new Error("--connstr must be a postgresql:// URL");
  let c: ReturnType<typeof parse>;
  try {
    c = parse(connstr);
  } catch {
    throw new Error("--connstr is not a valid postgresql:// URL");
  }
  return {
    user: c.user || "postgres",
    password: c.password || undefined,
    host: c.host || "localhost",
    port: Number(c.port || 5432),
    database: c.database || "postgres",
  };
}

function optionValue(v: string): string {
  // libpq `options`: backslash escapes spaces and backslashes.
  return v.replaceAll("\\", "\\\\").replaceAll(" ", "\\ ");
}

export function neutralisingOptions(user: string, extra: Record<string, string> = {}): string {
  const settings: Record<string, string> = {
    role: user,
    default_transaction_read_only: "off",
    search_path: "",
    statement_timeout: "0",
    // As Neon: the agent's own work stays out of pgaudit's log (a placeholder without pgaudit).
    "pgaudit.log": "none",
    ...extra,
  };
  return Object.entries(settings)
    .map(([k, v]) => `-c ${k}=${v === "" ? "''" : optionValue(v)}`)
    .join(" ");
}

export function clientConfig(target: ConnectionTarget, opts: ConnectOptions): pg.ClientConfig {
  const c = parseConnstr(target.connstr);
  return {
    host: c.host,
    port: c.port,
    user: c.user,
    password: c.password,
    database: opts.database ?? c.database,
    application_name: opts.applicationName,
    options: neutralisingOptions(c.user, opts.settings),
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
  };
}

// Sessions this process opened, per database: pg_stat_database counts them like a user's, and
// the activity monitor must not take the agent's own work for user activity.
const sessionsOpened = new Map<string, number>();

/** Sessions the agent opened so far to databases other than `except`. */
export function agentSessions(except: readonly string[]): number {
  let n = 0;
  for (const [db, count] of sessionsOpened) if (!except.includes(db)) n += count;
  return n;
}

/** Opens a connection; the caller ends it. */
export async function connect(target: ConnectionTarget, opts: ConnectOptions): Promise<pg.Client> {
  // pg (and the fetch machinery it touches) loads on the first connection, not at agent start.
  const { default: pgModule } = await load.pg();
  const config = clientConfig(target, opts);
  const database = config.database ?? "postgres";
  sessionsOpened.set(database, (sessionsOpened.get(database) ?? 0) + 1);
  const client = new pgModule.Client(config);
  // An idle client whose server goes away emits 'error'; without a listener that kills the process.
  client.on("error", () => {});
  await client.connect();
  return client;
}

/** Runs `fn` with a fresh connection and always closes it. */
export async function withConnection<T>(
  target: ConnectionTarget,
  opts: ConnectOptions,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = await connect(target, opts);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}
