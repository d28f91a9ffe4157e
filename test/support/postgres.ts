// Test Postgres instances: a real PostgreSQL server on a free port with its Unix socket in a
// temp dir, started as the `postgres` OS user when the tests run as root. Every instance is
// stopped by `stop()`; tests call it in `after`/`t.after`. The system's Postgres by default,
// or the binaries of one major (test/support/pg-majors.ts).
import { type ChildProcess, spawn } from "node:child_process";
import {
  appendFileSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import pg from "pg";
import { type PgBinaries, resolvePgBinaries } from "../../src/postgres/binaries.js";
import { asUser, postgresOsUser } from "../../src/postgres/os-user.js";
import { freePort } from "./ports.js";

export const pgBinaries = resolvePgBinaries({ pgbin: process.env.PGBIN });
export const pgOsUser = postgresOsUser("postgres");
const spawnOpts = asUser(pgOsUser);

/** A temp dir on tmpfs owned by the Postgres OS user. Short path: Unix socket paths are limited. */
export function tempDir(prefix = "cct-"): string {
  const base = existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
  const dir = mkdtempSync(path.join(base, prefix));
  if (pgOsUser) chownSync(dir, pgOsUser.uid, pgOsUser.gid);
  return dir;
}

async function chownTree(dir: string): Promise<void> {
  if (pgOsUser) await execa("chown", ["-R", `${pgOsUser.uid}:${pgOsUser.gid}`, dir]);
}

const templates = new Map<string, Promise<string>>();

/** One pristine initdb'd cluster per test process and binaries, copied for each instance. */
async function template(binaries: PgBinaries): Promise<string> {
  let promise = templates.get(binaries.postgres);
  if (promise) return promise;
  promise = (async () => {
    const root = tempDir("cct-tpl-");
    // One template per test process: removed when the process exits.
    process.once("exit", () => rmSync(root, { recursive: true, force: true }));
    const dir = path.join(root, "data");
    await execa(
      binaries.tool("initdb"),
      [
        "-D",
        dir,
        "-U",
        "postgres",
        "-A",
        "trust",
        "--no-sync",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
        "--no-instructions",
      ],
      { ...spawnOpts },
    );
    return dir;
  })();
  templates.set(binaries.postgres, promise);
  return promise;
}

export interface TestPostgres {
  port: number;
  socketDir: string;
  pgdata: string;
  /** Superuser URL over the Unix socket. */
  connstr(database?: string, user?: string): string;
  /** Superuser URL over TCP 127.0.0.1. */
  tcpConnstr(database?: string, user?: string): string;
  client(database?: string): Promise<pg.Client>;
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
    database?: string,
  ): Promise<T[]>;
  process: ChildProcess;
  stop(mode?: "fast" | "immediate"): Promise<void>;
}

export interface TestPostgresOptions {
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
  /** Lines appended to pg_hba.conf before start. */
  hba?: string[];
  /** The server binaries (default: the system's, or $PGBIN). */
  binaries?: PgBinaries;
}

async function waitReady(pgdata: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`test postgres exited with ${child.exitCode}`);
    try {
      const lines = readFileSync(path.join(pgdata, "postmaster.pid"), "utf8").trim().split("\n");
      if (lines.at(-1)?.trim() === "ready") return;
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("test postgres did not become ready in 20 s");
}

export async function startTestPostgres(opts: TestPostgresOptions = {}): Promise<TestPostgres> {
  const root = tempDir();
  const pgdata = path.join(root, "data");
  const socketDir = path.join(root, "s");
  const binaries = opts.binaries ?? pgBinaries;
  cpSync(await template(binaries), pgdata, { recursive: true });
  mkdirSync(socketDir);
  if (opts.hba?.length) {
    const hba = path.join(pgdata, "pg_hba.conf");
    appendFileSync(hba, `\n${opts.hba.join("\n")}\n`);
  }
  await chownTree(root);
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: socketDir,
    fsync: "off",
    synchronous_commit: "off",
    full_page_writes: "off",
    ...opts.settings,
  };
  const args = ["-D", pgdata, "-p", String(port)];
  for (const [k, v] of Object.entries(settings)) args.push("-c", `${k}=${v}`);
  const child = spawn(binaries.postgres, args, { ...spawnOpts, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    await waitReady(pgdata, child);
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  const connstr = (db = "postgres", user = "postgres") =>
    `postgresql://${encodeURIComponent(user)}@/${encodeURIComponent(db)}?host=${encodeURIComponent(socketDir)}&port=${port}`;
  const tcpConnstr = (db = "postgres", user = "postgres") =>
    `postgresql://${encodeURIComponent(user)}@127.0.0.1:${port}/${encodeURIComponent(db)}`;
  const client = async (db = "postgres") => {
    const c = new pg.Client({ host: socketDir, port, user: "postgres", database: db });
    await c.connect();
    return c;
  };
  return {
    port,
    socketDir,
    pgdata,
    connstr,
    tcpConnstr,
    client,
    process: child,
    async query(sql, params, db) {
      const c = await client(db);
      try {
        return (await c.query(sql, params)).rows;
      } finally {
        await c.end();
      }
    },
    async stop(mode = "fast") {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(mode === "fast" ? "SIGINT" : "SIGQUIT");
        const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}
