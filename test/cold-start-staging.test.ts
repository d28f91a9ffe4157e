// A waiting agent (no spec) stages the data directory from the template beside -D, and an
// initdb spec renames it into place instead of copying (the data directory then has the staged
// directory's inode). Staging that is not exactly this agent's untouched copy of the current
// template is discarded, never used: leftovers of an earlier agent (complete or partial), a
// staged tree modified after staging, a rewritten marker, another owner, a replaced template.
// A spec of another source kind discards it, /terminate and SIGTERM remove it, and a mount
// point at -D is not staged (a rename cannot cross it): the start copies. A launch with an
// initdb spec stages too, before it validates the spec (its head start): used when valid,
// removed when the spec is rejected, never made from a template modified since publish. Real agent binary,
// real Postgres (one case, binaries upgraded while waiting, drives the staging directly); every
// wait is for a log line or a status.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import pino from "pino";
import { TemplateCache } from "../src/startup/sources/template-cache.js";
import { parseManifest } from "../src/startup/sources/template-cache-manifest.js";
import { stagedPath, stagingMarkerPath, TemplateStaging } from "../src/startup/sources/template-staging.js";
import { AGENT_BIN, minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { freePort } from "./support/ports.js";
import { pgOsUser, tempDir } from "./support/postgres.js";

const root = tempDir("cct-stage-");
const cacheDir = path.join(root, "cache");
after(() => rmSync(root, { recursive: true, force: true }));

const STAGED = "data directory staged from the template";
const RENAMED = "data directory renamed into place from staging";
const DISCARDED = "staged data directory discarded, copying from the template";
const COPIED = "data directory copied from template";
const NOT_STAGING = "not staging the data directory";

type Entry = Record<string, unknown>;

/** Resolves with the first log entry matching, polling the agent's collected log (bounded). */
async function logLine(agent: RunningAgent, match: (e: Entry) => boolean, what: string): Promise<Entry> {
  const end = Date.now() + 60_000;
  for (;;) {
    const found = agent.logEntries().find(match);
    if (found) return found;
    if (agent.proc.exitCode !== null || agent.proc.signalCode !== null || Date.now() > end) {
      throw new Error(`no log line ${what}\n${agent.logs().slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

const msg = (m: string) => (e: Entry) => e.msg === m;

function waitingAgent(name: string, pgdata?: string): Promise<RunningAgent> {
  return startAgent({ name, pgdata, args: ["--cache-dir", cacheDir] });
}

async function configure(agent: RunningAgent): Promise<void> {
  const res = await agent.post("/configure", { spec: minimalSpec() });
  assert.equal(res.status, 200, await res.text());
  const [{ one }] = await agent.query<{ one: number }>("SELECT 1 AS one");
  assert.equal(one, 1);
}

/** A data directory path of the test's own (its parent exists, nothing else does). */
function ownPgdata(name: string): string {
  const dir = path.join(root, name);
  mkdirSync(dir);
  return path.join(dir, "pgdata");
}

/** An agent launched with the minimal spec and these flags, once it is `running`. */
async function launched(name: string, args: string[]): Promise<RunningAgent> {
  const agent = await startAgent({ name, spec: minimalSpec(), args });
  try {
    await agent.waitForStatus("running");
  } catch (err) {
    await agent.stop();
    throw err;
  }
  return agent;
}

/** One start with `cache`: it publishes the template. */
async function publishTemplate(name: string, cache: string): Promise<void> {
  await (await launched(name, ["--cache-dir", cache])).stop();
}

before(async () => {
  // The first start with this cache publishes the template every waiting agent then stages.
  await publishTemplate("staging-publish", cacheDir);
});

describe("a waiting agent with a template", () => {
  it("stages beside -D and an initdb spec renames it into place (same inode), leaving nothing beside", async () => {
    const agent = await waitingAgent("staging-used");
    try {
      await logLine(agent, msg(STAGED), "staged");
      const staged = stagedPath(agent.pgdata);
      const st = statSync(staged);
      assert.equal(st.mode & 0o777, 0o700);
      assert.ok(existsSync(path.join(staged, "PG_VERSION")));
      assert.equal(existsSync(agent.pgdata), false, "-D itself is not touched before the spec");
      await configure(agent);
      assert.equal(statSync(agent.pgdata).ino, st.ino, "the data directory is the staged directory");
      assert.ok(agent.logEntries().some(msg(RENAMED)));
      assert.ok(!agent.logEntries().some(msg(COPIED)), "no copy from the template");
      assert.equal(existsSync(staged), false);
      assert.equal(existsSync(stagingMarkerPath(agent.pgdata)), false);
      // The -D guard's owner record follows the new inode.
      const owned = readFileSync(
        path.join(path.dirname(agent.pgdata), `.${path.basename(agent.pgdata)}.compute_ctl-owned`),
        "utf8",
      );
      assert.equal(owned, `${st.dev}:${st.ino}\n`);
      const metrics = (await (await agent.get("/metrics.json")).json()) as Record<string, number>;
      assert.ok("template_staged_ms" in metrics, JSON.stringify(metrics));
    } finally {
      await agent.stop();
    }
  });
});

describe("staging that is not this agent's untouched copy is never used", () => {
  /** Runs a waiting agent, tampers with its staging, configures it: the start must copy. */
  async function tamperedStart(
    name: string,
    tamper: (staged: string, agent: RunningAgent) => void,
    reason: RegExp,
  ) {
    const agent = await waitingAgent(name);
    try {
      await logLine(agent, msg(STAGED), "staged");
      const staged = stagedPath(agent.pgdata);
      const ino = statSync(staged).ino;
      tamper(staged, agent);
      await configure(agent);
      const discarded = agent.logEntries().find(msg(DISCARDED));
      assert.ok(discarded, agent.logs().slice(-3000));
      assert.match(String(discarded.reason), reason);
      assert.ok(agent.logEntries().some(msg(COPIED)), "copied from the template instead");
      assert.notEqual(statSync(agent.pgdata).ino, ino);
      assert.equal(existsSync(path.join(agent.pgdata, "base", "tampered")), false);
      await logLine(
        agent,
        () => !existsSync(staged) && !existsSync(stagingMarkerPath(agent.pgdata)),
        "removal",
      );
    } finally {
      await agent.stop();
    }
  }

  it("a file added to the staged tree", () =>
    tamperedStart(
      "staging-added-file",
      (staged) => writeFileSync(path.join(staged, "base", "tampered"), "x"),
      /modified since staging/,
    ));

  it("a file of the staged tree rewritten", () =>
    tamperedStart(
      "staging-rewritten",
      (staged) => appendFileSync(path.join(staged, "global", "pg_control"), "x"),
      /modified since staging/,
    ));

  it("a file's mode changed", () =>
    tamperedStart(
      "staging-chmod",
      (staged) => chmodSync(path.join(staged, "PG_VERSION"), 0o666),
      /modified/,
    ));

  it("a marker rewritten by someone else (another token)", () =>
    tamperedStart(
      "staging-marker",
      (_staged, agent) => {
        const file = stagingMarkerPath(agent.pgdata);
        const m = JSON.parse(readFileSync(file, "utf8"));
        writeFileSync(file, JSON.stringify({ ...m, token: "0".repeat(32) }), { mode: 0o600 });
      },
      /marker/,
    ));

  it("the staged directory owned by another user", () =>
    tamperedStart(
      "staging-owner",
      (staged) => chownSync(staged, 65534, 65534),
      /owned by uid 65534|modified/,
    ));

  it("the template replaced after staging (rebuilt: other manifest)", () =>
    tamperedStart(
      "staging-template",
      () => {
        const [dir] = readdirSync(cacheDir).filter((n) => n.startsWith("initdb-"));
        const file = path.join(cacheDir, dir, "manifest.json");
        const m = JSON.parse(readFileSync(file, "utf8"));
        writeFileSync(file, JSON.stringify({ ...m, createdAt: new Date().toISOString() }), { mode: 0o600 });
      },
      /template was replaced/,
    ));

  it("a staging for other binaries (upgraded while the agent waited)", async () => {
    const pgdata = ownPgdata("staging-key");
    const [dir] = readdirSync(cacheDir).filter((n) => n.startsWith("initdb-"));
    const key = parseManifest(readFileSync(path.join(cacheDir, dir, "manifest.json"), "utf8")).key;
    const logs: Entry[] = [];
    const staging = new TemplateStaging({
      pgdata,
      cacheDir,
      guard: { cacheDir, grpcSocket: path.join(root, "no-socket", "grpc.sock") },
      osUser: pgOsUser,
      log: pino({ level: "info" }, { write: (line: string) => logs.push(JSON.parse(line)) }),
      templateKey: () => key,
    });
    staging.start();
    try {
      // The empty data directory prepare_pgdata makes.
      mkdirSync(pgdata, { mode: 0o700 });
      if (pgOsUser) chownSync(pgdata, pgOsUser.uid, pgOsUser.gid);
      const found = await (await TemplateCache.open(cacheDir)).lookup(key);
      assert.equal(found.kind, "hit");
      if (found.kind !== "hit") return;
      const upgraded = { ...key, binaries: key.binaries.map((b) => ({ ...b, ino: `${b.ino}1` })) };
      assert.equal(await staging.take(pgdata, upgraded, found.template), false);
      assert.ok(logs.some(msg(STAGED)), JSON.stringify(logs));
      assert.match(String(logs.find(msg(DISCARDED))?.reason), /binaries/);
      assert.deepEqual(readdirSync(pgdata), [], "the data directory stays empty for the copy");
    } finally {
      await staging.close();
    }
    assert.equal(existsSync(stagedPath(pgdata)), false);
    assert.equal(existsSync(stagingMarkerPath(pgdata)), false);
  });

  for (const complete of [true, false]) {
    it(`a ${complete ? "complete" : "partial"} staging left by an earlier agent is removed at launch, and a fresh one made`, async () => {
      const pgdata = ownPgdata(`staging-leftover-${complete}`);
      const staged = stagedPath(pgdata);
      mkdirSync(staged, { mode: 0o700 });
      writeFileSync(path.join(staged, "LEFTOVER"), "from an earlier agent");
      const old = lstatSync(staged);
      writeFileSync(
        stagingMarkerPath(pgdata),
        JSON.stringify({ identity: `${old.dev}:${old.ino}`, token: "1".repeat(32), complete }),
        { mode: 0o600 },
      );
      const agent = await waitingAgent(`staging-leftover-${complete}`, pgdata);
      try {
        await logLine(agent, msg(STAGED), "staged");
        assert.ok(agent.logEntries().some(msg("removing the staging of an earlier agent")));
        assert.equal(existsSync(path.join(staged, "LEFTOVER")), false);
        const ino = statSync(staged).ino;
        await configure(agent);
        assert.equal(statSync(pgdata).ino, ino, "this agent's own staging is used");
        assert.equal(existsSync(path.join(pgdata, "LEFTOVER")), false);
      } finally {
        await agent.stop();
      }
    });
  }

  it("a directory at the staged path that is not ours is left alone, and the start copies", async () => {
    const pgdata = ownPgdata("staging-foreign");
    const staged = stagedPath(pgdata);
    mkdirSync(staged);
    writeFileSync(path.join(staged, "theirs"), "keep");
    const agent = await waitingAgent("staging-foreign", pgdata);
    try {
      await logLine(agent, msg(NOT_STAGING), "not staging");
      await configure(agent);
      assert.ok(agent.logEntries().some(msg(COPIED)));
      assert.equal(readFileSync(path.join(staged, "theirs"), "utf8"), "keep");
      assert.deepEqual(readdirSync(staged), ["theirs"]);
    } finally {
      await agent.stop();
    }
  });
});

describe("staging goes away", () => {
  it("when the spec's source is not initdb", async () => {
    const agent = await waitingAgent("staging-other-source");
    let answer: Promise<unknown> = Promise.resolve();
    try {
      await logLine(agent, msg(STAGED), "staged");
      // A Replica of an unreachable primary: the start fails later, the staging is dropped first.
      // Its answer (a failure, or none when the agent is stopped first) is not what this is about.
      answer = agent
        .post("/configure", {
          spec: minimalSpec({
            mode: "Replica",
            source: { kind: "primary", connstring: "postgresql://postgres@127.0.0.1:1/postgres" },
          }),
        })
        .catch(() => null);
      const gone = await logLine(agent, msg("staged data directory discarded"), "discarded");
      assert.match(String(gone.reason), /source is primary/);
      // The directory goes first, then its marker: wait for both.
      await logLine(
        agent,
        () => !existsSync(stagedPath(agent.pgdata)) && !existsSync(stagingMarkerPath(agent.pgdata)),
        "removal of the staged directory and its marker",
      );
    } finally {
      await agent.stop();
      await answer;
    }
  });

  for (const how of ["POST /terminate", "SIGTERM"] as const) {
    it(`when the waiting agent exits (${how})`, async () => {
      const agent = await waitingAgent(`staging-exit-${how === "SIGTERM" ? "signal" : "terminate"}`);
      try {
        await logLine(agent, msg(STAGED), "staged");
        assert.ok(existsSync(stagedPath(agent.pgdata)));
        if (how === "SIGTERM") agent.proc.kill("SIGTERM");
        else assert.equal((await agent.post("/terminate")).status, 200);
        const { code } = await agent.exited;
        assert.equal(code, 0);
        assert.equal(existsSync(stagedPath(agent.pgdata)), false);
        assert.equal(existsSync(stagingMarkerPath(agent.pgdata)), false);
      } finally {
        await agent.stop();
      }
    });
  }
});

describe("a mount point at -D", () => {
  it("is not staged (a rename cannot cross it): the start copies into the mount", async () => {
    const parent = path.join(root, "mnt");
    const mnt = path.join(parent, "pgdata");
    mkdirSync(mnt, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=256m", "cct-staging-mnt", mnt]);
    try {
      const agent = await waitingAgent("staging-mount", mnt);
      try {
        const skipped = await logLine(agent, msg(NOT_STAGING), "not staging");
        assert.match(String(skipped.reason), /mount point/);
        assert.equal(existsSync(stagedPath(mnt)), false);
        await configure(agent);
        assert.ok(agent.logEntries().some(msg(COPIED)));
        assert.ok(readFileSync("/proc/self/mountinfo", "utf8").includes(` ${mnt} `), "still mounted");
      } finally {
        await agent.stop();
      }
    } finally {
      execFileSync("umount", ["-l", mnt]);
    }
  });
});

describe("a launch's head start (-S with an initdb spec)", () => {
  const STAGING = "staging the data directory";

  it("copies the template beside -D while the agent loads, and the start renames it into place", async () => {
    const agent = await launched("head-start-used", ["--cache-dir", cacheDir]);
    try {
      const entries = agent.logEntries();
      const began = entries.findIndex(msg(STAGING));
      assert.ok(began >= 0, agent.logs().slice(-3000));
      assert.equal(entries[began].kind, "head_start");
      assert.ok(
        began < entries.findIndex((e) => e.to === "init"),
        "the copy began before the spec was validated and the start began",
      );
      assert.ok(entries.some(msg(RENAMED)), "renamed into place");
      assert.ok(!entries.some(msg(COPIED)), "no second copy from the template");
      assert.equal(existsSync(stagedPath(agent.pgdata)), false);
      assert.equal(existsSync(stagingMarkerPath(agent.pgdata)), false);
      const [{ one }] = await agent.query<{ one: number }>("SELECT 1 AS one");
      assert.equal(one, 1);
    } finally {
      await agent.stop();
    }
  });

  for (const cache of ["template", "no-template-cache"] as const) {
    it(`a spec that fails validation after the head start began (${cache}): exit 1, nothing left in or beside -D`, async () => {
      const dir = path.join(root, `head-start-invalid-${cache}`);
      mkdirSync(dir);
      const pgdata = path.join(dir, "pgdata");
      const specFile = path.join(dir, "spec.json");
      // Valid JSON with an initdb source (the head start begins), rejected by validation.
      writeFileSync(specFile, JSON.stringify(minimalSpec({ mode: "Sideways" })));
      const res = spawnSync(
        AGENT_BIN,
        [
          ...["-D", pgdata, "-C", "postgresql://postgres@127.0.0.1:1/postgres", "-S", specFile],
          ...(cache === "template" ? ["--cache-dir", cacheDir] : ["--no-template-cache"]),
          ...["--http-host", "127.0.0.1"],
          ...[
            "--external-http-port",
            String(await freePort()),
            "--internal-http-port",
            String(await freePort()),
          ],
          ...["--grpc-port", String(await freePort()), "--grpc-socket", path.join(dir, "g.sock")],
        ],
        { encoding: "utf8", timeout: 60_000 },
      );
      assert.equal(res.status, 1, res.stderr);
      assert.match(res.stderr, /\$\.mode/);
      const lines = res.stderr
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Entry);
      assert.ok(lines.some(msg(STAGING)), `the head start began:\n${res.stderr.slice(-3000)}`);
      assert.equal(existsSync(stagedPath(pgdata)), false, "the staged copy is gone");
      assert.equal(existsSync(stagingMarkerPath(pgdata)), false, "its marker is gone");
      assert.equal(existsSync(pgdata), false, "-D was never created");
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.includes("pgdata")),
        [],
        "nothing beside -D (no staging, no owner record)",
      );
    });
  }

  it("--no-template-cache: initdb runs beside -D while the agent loads, and the start renames it into place", async () => {
    const agent = await launched("head-start-initdb", ["--no-template-cache"]);
    try {
      const entries = agent.logEntries();
      const began = entries.findIndex(msg(STAGING));
      assert.ok(began >= 0, agent.logs().slice(-3000));
      assert.equal(entries[began].initdb, true);
      assert.ok(began < entries.findIndex((e) => e.to === "init"), "initdb began before the start");
      assert.ok(entries.some(msg("data directory staged by initdb")));
      assert.ok(entries.some(msg(RENAMED)), "renamed into place");
      const metrics = (await (await agent.get("/metrics.json")).json()) as Record<string, number>;
      assert.ok(metrics.initdb_staged_ms > 0 && !metrics.initdb_ms, JSON.stringify(metrics));
      assert.equal(existsSync(stagedPath(agent.pgdata)), false);
      const [{ one }] = await agent.query<{ one: number }>("SELECT 1 AS one");
      assert.equal(one, 1);
    } finally {
      await agent.stop();
    }
  });

  it("a template modified after its manifest was recorded is not used: initdb rebuilds it", async () => {
    const ownCache = path.join(root, "head-start-damaged-cache");
    await publishTemplate("head-start-publish", ownCache);
    const template = readdirSync(ownCache).find((n) => n.startsWith("initdb-")) as string;
    const manifestFile = path.join(ownCache, template, "manifest.json");
    const before = parseManifest(readFileSync(manifestFile, "utf8")).createdAt;
    // Content unchanged, mode put back: only the ctime tells.
    const victim = path.join(ownCache, template, "data", "postgresql.conf");
    const mode = statSync(victim).mode & 0o777;
    chmodSync(victim, 0o600);
    chmodSync(victim, mode);
    const agent = await launched("head-start-damaged", ["--cache-dir", ownCache]);
    try {
      const failed = agent.logEntries().find(msg("could not stage the data directory"));
      assert.ok(failed, agent.logs().slice(-3000));
      assert.match(String(failed.error), /postgresql\.conf: modified since publish/);
      assert.ok(!agent.logEntries().some(msg(RENAMED)), "the head start's copy was not used");
      assert.ok(agent.logEntries().some(msg("template is damaged, rebuilding it")));
      assert.notEqual(parseManifest(readFileSync(manifestFile, "utf8")).createdAt, before, "rebuilt");
      assert.equal(existsSync(stagedPath(agent.pgdata)), false);
      assert.equal(existsSync(stagingMarkerPath(agent.pgdata)), false);
    } finally {
      await agent.stop();
    }
  });
});
