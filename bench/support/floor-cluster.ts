// The floors the agent is measured against: what a plain script does to get the same cluster
// running with the same SQL applied, using the stock tools and no agent. Each step is the
// cheapest honest way to do it on this machine (parallel fs.copyFile for the copy, a 1 ms poll
// of postmaster.pid for readiness) unless the benchmark names a tool (`pg_ctl start -w`).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { chown, constants, copyFile, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import pg from "pg";
import { resolvePgBinaries } from "../../src/postgres/binaries.js";
import { asUser, postgresOsUser } from "../../src/postgres/os-user.js";
import { type Plan, planSpec, readCatalogSnapshot } from "../../src/reconcile/index.js";
import { renderPgHba, renderPostgresqlConf } from "../../src/spec/render-conf.js";
import type { ComputeSpec } from "../../src/spec/types.js";
import { INITDB_LOCALE, initdbArgs } from "../../src/startup/sources/initdb.js";

export const pgBinaries = resolvePgBinaries();
export const pgOsUser = postgresOsUser("postgres");
const owner = pgOsUser ? { uid: pgOsUser.uid, gid: pgOsUser.gid } : null;
export const PRIVILEGED_ROLE = "neon_superuser";

export async function postgresVersion(): Promise<string> {
  return (await execa(pgBinaries.postgres, ["--version"])).stdout.trim();
}

/** A plain recursive copy (no manifest, no verification), owned by the Postgres user. */
export async function plainCopy(src: string, dst: string): Promise<void> {
  await mkdir(dst, { mode: 0o700 });
  if (owner) await chown(dst, owner.uid, owner.gid);
  const entries = await readdir(src, { withFileTypes: true });
  await Promise.all(
    entries.map(async (e) => {
      const s = path.join(src, e.name);
      const d = path.join(dst, e.name);
      if (e.isDirectory()) return plainCopy(s, d);
      await copyFile(s, d, constants.COPYFILE_FICLONE);
      if (owner) await chown(d, owner.uid, owner.gid);
    }),
  );
}

export async function initdb(pgdata: string): Promise<void> {
  await execa(pgBinaries.tool("initdb"), initdbArgs(pgdata, "postgres"), {
    ...asUser(pgOsUser),
    env: { LC_ALL: INITDB_LOCALE },
  });
}

/** The postgresql.conf and pg_hba.conf the agent writes for `spec` (same render functions). */
export function configFiles(spec: ComputeSpec, pgPort: number): Record<string, string> {
  return {
    "postgresql.conf": renderPostgresqlConf(
      spec,
      { port: pgPort, socketDir: null, privilegedRoleName: PRIVILEGED_ROLE, internalHttpPort: 1 },
      [],
    ),
    "pg_hba.conf": renderPgHba("postgres", null),
  };
}

export async function writeConfig(pgdata: string, files: Record<string, string>): Promise<void> {
  await Promise.all(
    Object.entries(files).map(async ([name, content]) => {
      const file = path.join(pgdata, name);
      await writeFile(file, content, { mode: 0o600 });
      if (owner) await chown(file, owner.uid, owner.gid);
    }),
  );
}

function postmasterReady(pgdata: string): boolean {
  try {
    const lines = readFileSync(path.join(pgdata, "postmaster.pid"), "utf8").trimEnd().split("\n");
    return lines.length >= 8 && lines.at(-1)?.trim() === "ready";
  } catch {
    return false;
  }
}

/** `postgres -D` as a child, ready when postmaster.pid says so (polled every millisecond). */
export async function startPostgresDirect(pgdata: string): Promise<void> {
  const child = spawn(pgBinaries.postgres, ["-D", pgdata], {
    ...asUser(pgOsUser),
    stdio: "ignore",
    detached: true,
  });
  child.unref();
  const deadline = Date.now() + 60_000;
  while (!postmasterReady(pgdata)) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error("postgres did not become ready in 60 s");
    await new Promise((r) => setTimeout(r, 1));
  }
}

export async function pgCtlStart(pgdata: string): Promise<void> {
  await execa(pgBinaries.tool("pg_ctl"), ["start", "-w", "-s", "-D", pgdata, "-l", "/dev/null"], {
    ...asUser(pgOsUser),
  });
}

export async function pgCtlStopFast(pgdata: string): Promise<void> {
  await execa(pgBinaries.tool("pg_ctl"), ["stop", "-w", "-s", "-m", "fast", "-D", pgdata], {
    ...asUser(pgOsUser),
  });
}

function postmasterPid(pgdata: string): number | null {
  try {
    return Number(readFileSync(path.join(pgdata, "postmaster.pid"), "utf8").split("\n")[0]);
  } catch {
    return null;
  }
}

/** SIGINT (fast shutdown) to the postmaster and wait until the process is gone (1 ms poll). */
export async function stopPostgresFast(pgdata: string): Promise<void> {
  const pid = postmasterPid(pgdata);
  if (!pid) return;
  try {
    process.kill(pid, "SIGINT");
  } catch {
    return;
  }
  while (isAlive(pid)) await new Promise((r) => setTimeout(r, 1));
}

/** True while `pid` exists and is not a zombie (an exited postmaster not reaped yet). */
function isAlive(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Kills whatever Postgres still runs on `pgdata` (cleanup after a failed run). */
export function killPostgres(pgdata: string): void {
  const pid = postmasterPid(pgdata);
  if (pid) {
    try {
      process.kill(pid, "SIGQUIT");
    } catch {
      // gone
    }
  }
}

/** The plan as a psql script: the same statements, in order, one session (\connect per database). */
export function psqlScript(plan: Plan, systemDatabase: string): string {
  const lines: string[] = ["\\set ON_ERROR_STOP on"];
  for (const phase of plan.phases) {
    if (phase.kind === "sql") {
      for (const s of phase.statements) lines.push(`${s.sql};`);
    } else {
      for (const task of phase.tasks) {
        lines.push(`\\connect "${task.database}"`);
        for (const s of task.statements) lines.push(`${s.sql};`);
      }
      lines.push(`\\connect "${systemDatabase}"`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** What the agent would execute for `spec` on a fresh cluster listening on `pgPort`. */
export async function planFor(spec: ComputeSpec, pgPort: number): Promise<string> {
  const client = new pg.Client({ host: "127.0.0.1", port: pgPort, user: "postgres", database: "postgres" });
  await client.connect();
  try {
    const snapshot = await readCatalogSnapshot(client, {
      privilegedRole: PRIVILEGED_ROLE,
      roleNames: [],
      subscriptions: false,
    });
    return psqlScript(
      planSpec({ spec: spec.json, snapshot, privilegedRole: PRIVILEGED_ROLE }),
      snapshot.systemDatabase,
    );
  } finally {
    await client.end();
  }
}

/**
 * Starts a scratch cluster from `template` with the spec's config, plans the spec against it and
 * writes the statements to `<root>/spec.sql`; returns that path.
 */
export async function writePlanScript(
  root: string,
  spec: ComputeSpec,
  pgPort: number,
  template: string,
): Promise<string> {
  const pgdata = path.join(root, "plan-pgdata");
  await plainCopy(template, pgdata);
  await writeConfig(pgdata, configFiles(spec, pgPort));
  try {
    await startPostgresDirect(pgdata);
    const file = path.join(root, "spec.sql");
    await writeFile(file, await planFor(spec, pgPort));
    return file;
  } finally {
    await stopPostgresFast(pgdata).catch(() => killPostgres(pgdata));
    await rm(pgdata, { recursive: true, force: true });
  }
}

export async function runPsql(scriptFile: string, pgPort: number): Promise<void> {
  await execa(pgBinaries.tool("psql"), [
    "-X",
    "-q",
    "-h",
    "127.0.0.1",
    "-p",
    String(pgPort),
    "-U",
    "postgres",
    "-d",
    "postgres",
    "-f",
    scriptFile,
  ]);
}
