// GET /database_schema: a schema-only `pg_dump` of one database, streamed while it is produced.
// The database is looked up first, and the answer waits for the first byte of the dump, so a
// missing database (or a dump that cannot start) is a clean error before any output. The dump
// process is killed as soon as the consumer goes away (client disconnect, abort), and a dump
// that fails midway ends the stream with an error, never with a clean-looking truncated file.
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { PassThrough, type Readable } from "node:stream";
import type { Logger } from "pino";
import { OperationError } from "../errors/operation-error.js";
import { maskSecrets } from "../log/logger.js";
import { clientTool, MissingToolError, type PgBinaries } from "../postgres/binaries.js";
import { neutralisingOptions, parseConnstr, withConnection } from "../postgres/connection.js";

export interface SchemaDumpDeps {
  /** The agent's `-C` superuser URL: host, port, user (and password) for pg_dump. */
  connstr: string;
  pg: PgBinaries;
  log: Logger;
}

const KILL_GRACE_MS = 2000;
const STDERR_KEEP = 4096;

async function databaseExists(deps: SchemaDumpDeps, database: string): Promise<boolean> {
  try {
    return await withConnection(
      { connstr: deps.connstr },
      { applicationName: "compute_ctl:database_schema" },
      async (client) =>
        (await client.query("SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", [database]))
          .rowCount === 1,
    );
  } catch (err) {
    throw new OperationError(
      "unavailable",
      `Postgres is unreachable: ${maskSecrets((err as Error).message)}`,
      {
        cause: err,
      },
    );
  }
}

type DumpProcess = ChildProcessByStdio<null, Readable, Readable>;

function spawnDump(deps: SchemaDumpDeps, pgDump: string, database: string): DumpProcess {
  const c = parseConnstr(deps.connstr);
  // Connection parameters go through the environment: a password in argv would be visible to
  // every local user in `ps`.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGDATABASE: database,
    PGAPPNAME: "compute_ctl:database_schema",
    PGOPTIONS: neutralisingOptions(c.user),
    PGCONNECT_TIMEOUT: "10",
  };
  if (c.password !== undefined) env.PGPASSWORD = c.password;
  else delete env.PGPASSWORD;
  return spawn(
    pgDump,
    ["--host", c.host, "--port", String(c.port), "--username", c.user, "--schema-only", "--no-password"],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
}

function failure(database: string, stderr: string, how: string): OperationError {
  const text = maskSecrets(stderr.trim().split("\n").slice(0, 3).join(" ")) || how;
  if (/database ".*" does not exist/.test(stderr))
    return new OperationError("not_found", "database does not exist");
  return new OperationError("internal", `pg_dump of database ${JSON.stringify(database)} failed: ${text}`);
}

/**
 * Starts the dump and resolves with its output once the first bytes are there. Rejects with
 * OperationError: invalid_argument (no name), not_found (`database does not exist`),
 * unavailable (Postgres unreachable), internal (pg_dump failed before any output).
 */
export async function dumpDatabaseSchema(
  deps: SchemaDumpDeps,
  database: string,
  signal?: AbortSignal,
): Promise<Readable> {
  if (!database)
    throw new OperationError("invalid_argument", "missing database name (query parameter database)");
  if (!(await databaseExists(deps, database)))
    throw new OperationError("not_found", "database does not exist");
  signal?.throwIfAborted();
  let pgDump: string;
  try {
    pgDump = await clientTool(deps.pg, "pg_dump");
  } catch (err) {
    if (err instanceof MissingToolError) throw new OperationError("internal", err.message);
    throw err;
  }

  const t0 = performance.now();
  const child = spawnDump(deps, pgDump, database);
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => {
    if (stderr.length < STDERR_KEEP) stderr += d;
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once("close", (code, sig) => resolve({ code, signal: sig }));
      child.once("error", (error) => resolve({ code: null, signal: null, error }));
    },
  );
  let exited = false;
  void closed.then(() => {
    exited = true;
  });
  const kill = () => {
    if (exited) return;
    child.kill("SIGTERM");
    setTimeout(() => {
      if (!exited) child.kill("SIGKILL");
    }, KILL_GRACE_MS).unref();
  };

  // Wait for the first output (or the end of it): 'readable' also fires at EOF, with nothing buffered.
  const onAbort = () => kill();
  signal?.addEventListener("abort", onAbort, { once: true });
  await new Promise<void>((resolve) => {
    child.stdout.once("readable", resolve);
    void closed.then(() => resolve());
  });
  if (child.stdout.readableLength === 0) {
    const end = await closed;
    signal?.removeEventListener("abort", onAbort);
    if (end.error) throw new OperationError("internal", `cannot run pg_dump: ${end.error.message}`);
    signal?.throwIfAborted();
    if (end.code !== 0) throw failure(database, stderr, `pg_dump exited with ${end.code ?? end.signal}`);
  }

  let bytes = 0;
  const out = new PassThrough();
  child.stdout.on("data", (d: Buffer) => {
    bytes += d.length;
  });
  child.stdout.pipe(out, { end: false });
  out.once("close", () => {
    signal?.removeEventListener("abort", onAbort);
    kill();
  });
  void closed.then((end) => {
    const ms = Math.round(performance.now() - t0);
    if (end.code === 0) {
      deps.log.info({ database, bytes, duration_ms: ms }, "schema dump finished");
      out.end();
    } else if (!out.destroyed) {
      const err = failure(database, stderr, `pg_dump was stopped (${end.code ?? end.signal})`);
      deps.log.warn({ database, bytes, duration_ms: ms, error: err.message }, "schema dump failed midway");
      out.destroy(err);
    } else {
      deps.log.info({ database, bytes, duration_ms: ms }, "schema dump cancelled: the client went away");
    }
  });
  return out;
}
