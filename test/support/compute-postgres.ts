// Starting Postgres on a data directory a data source prepared, the way the agent will: the
// source's confLines go into postgresql.conf, then the server runs as the Postgres OS user on
// a free port with its socket in a short temp dir. Tests stop it in `after`/`t.after`.
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, chownSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { asUser } from "../../src/postgres/os-user.js";
import { freePort } from "./ports.js";
import { pgBinaries, pgOsUser, tempDir } from "./postgres.js";

/** An empty data dir (0700, owned by the Postgres OS user), as the pipeline hands it to a source. */
export function emptyPgdata(): { root: string; pgdata: string } {
  const root = tempDir("cct-src-");
  const pgdata = path.join(root, "data");
  mkdirSync(pgdata, { mode: 0o700 });
  if (pgOsUser) chownSync(pgdata, pgOsUser.uid, pgOsUser.gid);
  return { root, pgdata };
}

export interface ComputePostgres {
  readonly port: number;
  readonly process: ChildProcess;
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Superuser URL over TCP 127.0.0.1 (what promoteReplica gets as its target). */
  readonly connstr: string;
  stderr(): string;
  stop(): Promise<void>;
}

async function waitReady(pgdata: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`postgres exited with ${child.exitCode ?? child.signalCode}:\n${stderr()}`);
    }
    try {
      const lines = readFileSync(path.join(pgdata, "postmaster.pid"), "utf8").trim().split("\n");
      if (lines.length >= 8 && lines.at(-1)?.trim() === "ready") return;
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`postgres did not become ready in 30 s:\n${stderr()}`);
}

export async function startComputePostgres(
  pgdata: string,
  confLines: readonly string[] = [],
): Promise<ComputePostgres> {
  if (confLines.length) appendFileSync(path.join(pgdata, "postgresql.conf"), `\n${confLines.join("\n")}\n`);
  const socketDir = tempDir("cct-sock-");
  const port = await freePort();
  const args = [
    "-D",
    pgdata,
    "-p",
    String(port),
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    `unix_socket_directories=${socketDir}`,
  ];
  args.push("-c", "fsync=off", "-c", "synchronous_commit=off");
  const child = spawn(pgBinaries.postgres, args, {
    ...asUser(pgOsUser),
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err = (err + d.toString()).slice(-20_000);
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    await waitReady(pgdata, child, () => err);
  } catch (e) {
    child.kill("SIGKILL");
    await exited;
    rmSync(socketDir, { recursive: true, force: true });
    throw e;
  }
  const connstr = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  return {
    port,
    process: child,
    connstr,
    stderr: () => err,
    async query(sql, params) {
      const c = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "postgres" });
      await c.connect();
      try {
        return (await c.query(sql, params)).rows;
      } finally {
        await c.end();
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGINT");
        const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(socketDir, { recursive: true, force: true });
    },
  };
}
