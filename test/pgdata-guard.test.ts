// The agent deletes only what it owns: -D must be absent, empty, a Postgres data directory or a
// directory the agent made; system and home directories, the template cache and its parents and
// symbolic links are refused with exit 2 before anything binds or changes (4xx on /configure of
// an empty agent). A mount point at -D is emptied in place and the compute runs.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { checkPgdata, PgdataRefusedError } from "../src/startup/pgdata-guard.js";
import { recreateDataDir } from "../src/startup/steps/prepare-pgdata.js";
import { AGENT_BIN, minimalSpec, startAgent } from "./support/agent.js";
import { pgOsUser, tempDir } from "./support/postgres.js";

const root = tempDir("cct-guard-");
after(() => rmSync(root, { recursive: true, force: true }));
const owner = pgOsUser ? { uid: pgOsUser.uid, gid: pgOsUser.gid } : null;
const cacheDir = path.join(root, "cache", "compute_ctl");
const passwdFile = path.join(root, "passwd");
writeFileSync(passwdFile, `someone:x:1234:1234::${path.join(root, "a-home")}:/bin/sh\n`);
const opts = { cacheDir, grpcSocket: path.join(root, "sock", "grpc.sock"), passwdFile };

function refusedFor(pgdata: string, reason: RegExp): void {
  assert.throws(
    () => checkPgdata(pgdata, opts),
    (err: unknown) => err instanceof PgdataRefusedError && reason.test(err.message),
  );
}

describe("what -D may be", () => {
  it("absent, empty (lost+found too), a Postgres data directory, or a directory the agent made", async () => {
    assert.equal(checkPgdata(path.join(root, "nothing-here"), opts), "absent");
    const empty = path.join(root, "empty");
    mkdirSync(path.join(empty, "lost+found"), { recursive: true });
    assert.equal(checkPgdata(empty, opts), "empty");
    const pg = path.join(root, "pg");
    mkdirSync(path.join(pg, "base"), { recursive: true });
    writeFileSync(path.join(pg, "PG_VERSION"), "15\n");
    assert.equal(checkPgdata(pg, opts), "postgres");
    // A start that stopped before PG_VERSION existed: the marker says it is ours.
    const mine = path.join(root, "mine");
    await recreateDataDir(mine, owner);
    writeFileSync(path.join(mine, "half-written"), "x");
    assert.equal(checkPgdata(mine, opts), "owned");
    // The marker names that directory: a different one at the same path is not ours.
    rmSync(mine, { recursive: true });
    mkdirSync(mine);
    writeFileSync(path.join(mine, "user-file"), "keep me");
    refusedFor(mine, /no PG_VERSION.*"user-file"/);
  });

  it("a foreign directory, a file, a symlink are refused", () => {
    const foreign = path.join(root, "foreign");
    mkdirSync(foreign);
    writeFileSync(path.join(foreign, "thesis.tex"), "years of work");
    refusedFor(foreign, /not a Postgres data directory.*thesis\.tex/);
    const file = path.join(root, "file");
    writeFileSync(file, "x");
    refusedFor(file, /not a directory/);
    const link = path.join(root, "link");
    const pg = path.join(root, "pg-target");
    mkdirSync(pg);
    writeFileSync(path.join(pg, "PG_VERSION"), "15\n");
    symlinkSync(pg, link);
    refusedFor(link, /symbolic link/);
  });

  it("system and home directories, the cache, the socket directory and their parents are refused", () => {
    for (const dir of ["/", "/usr", "/tmp", "/home", "/var/lib", "/etc", "/mnt"])
      refusedFor(dir, /system directory/);
    refusedFor(os.homedir(), /home directory|system directory/);
    refusedFor(path.join(root, "a-home"), /home directory of someone/);
    refusedFor(cacheDir, /template cache/);
    refusedFor(path.dirname(cacheDir), /contains the template cache/);
    refusedFor(path.join(cacheDir, "v1", "x"), /inside the template cache/);
    refusedFor(path.join(root, "sock"), /gRPC socket/);
    refusedFor(root, /contains/);
    // Through a symlinked parent too.
    const alias = path.join(root, "alias");
    symlinkSync("/usr", alias);
    refusedFor(path.join(alias), /symbolic link|system directory/);
    refusedFor(path.join(alias, "lib"), /system directory/);
  });
});

describe("a mount point at -D", () => {
  it("is emptied in place: entries go, the mount stays", async () => {
    const mnt = path.join(root, "mnt-pgdata");
    mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m", "cct-guard", mnt]);
    try {
      writeFileSync(path.join(mnt, "PG_VERSION"), "15\n");
      mkdirSync(path.join(mnt, "base", "1"), { recursive: true });
      writeFileSync(path.join(mnt, "base", "1", "123"), "old data");
      // A symlink inside is removed, never followed.
      const outside = path.join(root, "outside-file");
      writeFileSync(outside, "must survive");
      symlinkSync(outside, path.join(mnt, "link"));
      assert.equal(checkPgdata(mnt, opts), "postgres");
      await recreateDataDir(mnt, owner);
      assert.deepEqual(readdirSync(mnt), []);
      assert.equal(statSync(mnt).mode & 0o777, 0o700);
      assert.ok(readFileSync("/proc/self/mountinfo", "utf8").includes(` ${mnt} `), "still mounted");
      assert.equal(readFileSync(outside, "utf8"), "must survive");
    } finally {
      execFileSync("umount", [mnt]);
    }
  });
});

describe("the agent", () => {
  function runAgent(pgdata: string, extra: string[] = []): { status: number | null; stderr: string } {
    try {
      execFileSync(
        AGENT_BIN,
        ["-D", pgdata, "-C", "postgresql://postgres@127.0.0.1:1/postgres", "--cache-dir", cacheDir, ...extra],
        { stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 },
      );
      return { status: 0, stderr: "" };
    } catch (err) {
      const e = err as { status: number | null; stderr: Buffer };
      return { status: e.status, stderr: e.stderr.toString() };
    }
  }

  it("exits 2 for a foreign -D, naming it and the reason, and the files stay", () => {
    const foreign = path.join(root, "agent-foreign");
    mkdirSync(foreign);
    writeFileSync(path.join(foreign, "notes.txt"), "mine");
    const res = runAgent(foreign, ["--external-http-port", "1"]);
    assert.equal(res.status, 2, res.stderr);
    assert.match(res.stderr, new RegExp(`${foreign}.*no PG_VERSION`));
    assert.equal(readFileSync(path.join(foreign, "notes.txt"), "utf8"), "mine");
    assert.deepEqual(readdirSync(foreign), ["notes.txt"]);
  });

  it("exits 2 for /, /usr, the cache directory and its parent", () => {
    for (const dir of ["/", "/usr", cacheDir, path.dirname(cacheDir)]) {
      const res = runAgent(dir);
      assert.equal(res.status, 2, `${dir}: ${res.stderr}`);
      assert.match(res.stderr, /refusing to use/);
    }
  });

  it("answers POST /configure of an empty agent with 412 when -D became foreign, and deletes nothing", async () => {
    const agent = await startAgent({ name: "guard-configure" });
    try {
      mkdirSync(agent.pgdata);
      writeFileSync(path.join(agent.pgdata, "precious"), "x");
      const res = await agent.post("/configure", { spec: minimalSpec() });
      assert.equal(res.status, 412, await res.clone().text());
      assert.match(((await res.json()) as { error: string }).error, /no PG_VERSION/);
      assert.ok(existsSync(path.join(agent.pgdata, "precious")));
      assert.equal((await agent.status()).status, "empty");
    } finally {
      await agent.stop();
    }
  });

  it("runs a compute on a mount point at -D", async () => {
    const agentRoot = tempDir("cct-guard-mnt-");
    const mnt = path.join(agentRoot, "pgdata");
    mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=256m", "cct-guard-agent", mnt]);
    try {
      writeFileSync(path.join(mnt, "PG_VERSION"), "15\n");
      writeFileSync(path.join(mnt, "stale"), "from the last compute");
      const agent = await startAgent({ spec: minimalSpec(), name: "guard-mount", pgdata: mnt });
      try {
        await agent.waitForStatus("running");
        assert.ok(!existsSync(path.join(mnt, "stale")));
        assert.ok(readFileSync("/proc/self/mountinfo", "utf8").includes(` ${mnt} `), "still mounted");
        const [{ one }] = await agent.query<{ one: number }>("SELECT 1 AS one");
        assert.equal(one, 1);
      } finally {
        await agent.stop();
      }
    } finally {
      execFileSync("umount", ["-l", mnt]);
      rmSync(agentRoot, { recursive: true, force: true });
    }
  });
});
