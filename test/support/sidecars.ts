// Real sidecars for the Neon-contract tests: Debian's pgbouncer (run as the Postgres OS user,
// which it insists on: it refuses root) with an admin console behind a password, and a stand-in
// for Neon's local_proxy that behaves as local_proxy does towards compute_ctl: it flock()s its pid
// file, writes its pid, and records SIGHUP (re-read config.json) and SIGTERM.
import { type ChildProcess, spawn } from "node:child_process";
import { chownSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { asUser } from "../../src/postgres/os-user.js";
import { readPidFile } from "../../src/sidecars/pid-file.js";
import { freePort } from "./ports.js";
import { pgOsUser, tempDir } from "./postgres.js";

export interface TestPgbouncer {
  port: number;
  ini: string;
  pidFile: string;
  adminUrl: string;
  password: string;
  process: ChildProcess;
  exited: Promise<void>;
  /** SHOW CONFIG through the admin console: name -> value. */
  config(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

async function until<T>(what: string, fn: () => T | null | Promise<T | null>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startPgbouncer(postgresPort: number): Promise<TestPgbouncer> {
  const dir = tempDir("pgb-");
  const port = await freePort();
  const password = "pgbouncer-admin-secret-1";
  const ini = path.join(dir, "pgbouncer.ini");
  const pidFile = path.join(dir, "pgbouncer.pid");
  writeFileSync(
    ini,
    `;; the compute's pooler
[databases]
* = host=127.0.0.1 port=${postgresPort}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir = ${dir}
auth_type = md5
auth_file = ${dir}/userlist.txt
admin_users = postgres
pidfile = ${pidFile}
default_pool_size = 5
`,
  );
  writeFileSync(path.join(dir, "userlist.txt"), `"postgres" "${password}"\n`);
  for (const f of ["pgbouncer.ini", "userlist.txt"])
    if (pgOsUser) chownSync(path.join(dir, f), pgOsUser.uid, pgOsUser.gid);
  const child = spawn("pgbouncer", [ini], { ...asUser(pgOsUser), stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const adminUrl = `postgresql://postgres@127.0.0.1:${port}/pgbouncer`;
  const admin = async <T extends pg.QueryResultRow>(sql: string): Promise<T[]> => {
    const c = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password, database: "pgbouncer" });
    await c.connect();
    try {
      return (await c.query<T>(sql)).rows;
    } finally {
      await c.end();
    }
  };
  await until(`pgbouncer listening (${stderr})`, () =>
    admin("SHOW VERSION").then(
      () => true,
      () => null,
    ),
  );
  return {
    port,
    ini,
    pidFile,
    adminUrl,
    password,
    process: child,
    exited,
    async config() {
      const rows = await admin<{ key: string; value: string }>("SHOW CONFIG");
      return Object.fromEntries(rows.map((r) => [r.key, r.value]));
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

export interface LocalProxyStandIn {
  dir: string;
  /** Signals received, in order ("HUP", "TERM"). */
  signals(): string[];
  stop(): void;
}

/** local_proxy as compute_ctl sees it: a locked pid file in `dir`, signals recorded. */
export async function startLocalProxyStandIn(): Promise<LocalProxyStandIn> {
  const dir = tempDir("lp-");
  const log = path.join(dir, "signals");
  writeFileSync(log, "");
  const pid = path.join(dir, "pid");
  const child = spawn(
    "flock",
    [
      "-n",
      pid,
      "sh",
      "-c",
      `trap 'echo HUP >> ${log}' HUP; trap 'echo TERM >> ${log}; exit 0' TERM; echo $$ > ${pid}; while :; do sleep 0.05; done`,
    ],
    { stdio: "ignore", detached: true },
  );
  await until("the stand-in's locked pid file", () => {
    const p = readPidFile(pid);
    return p.state === "locked" && p.pid !== null ? true : null;
  });
  return {
    dir,
    signals: () => readFileSync(log, "utf8").split("\n").filter(Boolean),
    stop() {
      try {
        process.kill(-(child.pid as number), "SIGKILL");
      } catch {
        // gone
      }
    },
  };
}
