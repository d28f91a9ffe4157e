// Every line of a whole lifecycle's log (start with roles and databases, the exporter and the
// vm-monitor, requests, a client's wrong password, an SQL error, a live reconfiguration, a fast
// termination with a client still connected) is one JSON object with no key twice at any depth:
// jq and most log pipelines keep only the last of two equal keys, so a filter on `phase` or
// `component` would miss such lines. Postgres's own lines carry no start-time bindings, and its
// severities map so that only PANIC (and the agent's own fatal errors) reach pino level 60.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { pino } from "pino";
import { postgresLogLevel } from "../src/postgres/stderr-log.js";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { freePort } from "./support/ports.js";
import { tempDir } from "./support/postgres.js";
import { DuplicateKeyError, parseUniqueJson } from "./support/unique-json.js";

type Entry = Record<string, unknown>;

describe("the unique-key parser", () => {
  test("rejects a key twice at any depth, accepts what JSON.parse accepts", () => {
    assert.throws(() => parseUniqueJson('{"a":1,"a":2}'), DuplicateKeyError);
    assert.throws(() => parseUniqueJson('{"a":{"b":[{"c":1,"c":1}]}}'), /duplicate key "c" in \.a\.b\[0\]/);
    const ok = '{"a":"x\\"y\\u00e9","b":[1,-2.5e3,true,null,{}],"c":{"d":[]}}';
    assert.deepEqual(parseUniqueJson(ok), JSON.parse(ok));
    assert.throws(() => parseUniqueJson('{"a":1,}'), SyntaxError);
    assert.throws(() => parseUniqueJson('{"a":1} x'), SyntaxError);
  });

  test("catches what pino really writes for a key bound twice", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(...String(chunk).trim().split("\n"));
        done();
      },
    });
    pino({ base: null }, sink).child({ phase: "start" }).info({ phase: "create_roles" }, "x");
    assert.throws(() => parseUniqueJson(lines[0]), DuplicateKeyError);
  });
});

describe("a whole lifecycle's log", () => {
  let agent: RunningAgent;
  let cgRoot: string;
  let exitCode: number | null = null;
  const password = "lifecycle-secret";
  const md5 = (role: string, pw: string) =>
    createHash("md5")
      .update(pw + role)
      .digest("hex");

  before(async () => {
    // A cgroup directory for the vm-monitor (as test/autoscaling-agent.test.ts makes one).
    cgRoot = tempDir("ccg-");
    const cg = path.join(cgRoot, "neon-postgres");
    mkdirSync(cg);
    writeFileSync(path.join(cg, "memory.stat"), "anon 0\nactive_anon 1000\ninactive_anon 1000\n");
    writeFileSync(path.join(cg, "cgroup.procs"), "");
    const spec = minimalSpec();
    const cluster = spec.cluster as Entry;
    cluster.roles = [{ name: "app", encrypted_password: md5("app", password), options: null }];
    cluster.databases = [{ name: "appdb", owner: "app", options: null }];
    agent = await startAgent({
      spec,
      name: "logs-unique-keys",
      graceS: 0,
      args: ["--vm-monitor-addr", `127.0.0.1:${await freePort()}`, "--cgroup", cg],
      env: { AUTOSCALING: "true" },
    });
    await agent.waitForStatus("running");
    // The background services (exporter, vm-monitor) come up after running: wait for their
    // first lines, so their loggers are part of the lifecycle however slow the machine is.
    const deadline = Date.now() + 60_000;
    const seen = (component: string) => agent.logEntries().some((e) => e.component === component);
    while (!(seen("exporter") && seen("vm-monitor"))) {
      assert.ok(Date.now() < deadline, "the exporter and the vm-monitor logged");
      await new Promise((r) => setTimeout(r, 50));
    }

    // Requests, found and not.
    for (const p of ["/status", "/metrics", "/autoscaling_metrics", "/readyz", "/nope"]) await agent.get(p);
    // A client with a wrong password (Postgres: FATAL) and an SQL error (ERROR).
    const url = new URL(agent.connstr);
    const wrong = new pg.Client({
      host: url.hostname,
      port: Number(url.port),
      user: "app",
      database: "appdb",
      password: "nope",
    });
    wrong.on("error", () => {});
    await assert.rejects(wrong.connect(), /password authentication failed/);
    await assert.rejects(agent.query("SELECT * FROM no_such_table_in_lifecycle"));
    // A live reconfiguration that runs spec phases again.
    const more = structuredClone(spec);
    (more.cluster as Entry).databases = [
      ...(cluster.databases as Entry[]),
      { name: "otherdb", owner: "app", options: null },
    ];
    assert.equal((await agent.post("/configure", { spec: more })).status, 200);
    // A client still connected when Postgres stops fast: its backend says FATAL.
    const held = new pg.Client({ connectionString: agent.connstr });
    held.on("error", () => {});
    await held.connect();
    assert.equal((await agent.post("/terminate?mode=fast")).status, 200);
    exitCode = (await agent.exited).code;
    await held.end().catch(() => {});
  });
  after(async () => {
    await agent?.stop();
    if (cgRoot) rmSync(cgRoot, { recursive: true, force: true });
  });

  const entries = (): Entry[] =>
    agent
      .logs()
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => parseUniqueJson(l) as Entry);

  test("every line is JSON with each key once", () => {
    assert.equal(exitCode, 0, "the agent exited after the termination");
    const lines = agent
      .logs()
      .split("\n")
      .filter((l) => l.trim() !== "");
    assert.ok(lines.length > 50, `${lines.length} lines`);
    const bad: string[] = [];
    for (const line of lines) {
      try {
        parseUniqueJson(line);
      } catch (err) {
        bad.push(`${(err as Error).message}: ${line.slice(0, 300)}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  test("the lifecycle covered the loggers that used to bind a key twice", () => {
    const all = entries();
    const has = (pred: (e: Entry) => boolean, what: string) => assert.ok(all.some(pred), what);
    has((e) => e.msg === "spec apply phase done" && e.operation === "start", "spec phases of the start");
    has(
      (e) => e.msg === "spec apply phase done" && e.operation === "reconfigure",
      "spec phases of a reconfiguration",
    );
    has((e) => e.component === "vm-monitor", "vm-monitor lines");
    has((e) => e.component === "exporter-supervisor" || e.component === "exporter", "exporter lines");
    has((e) => e.component === "postgres", "Postgres lines");
  });

  test("Postgres's lines carry no start-time bindings", () => {
    const postgres = entries().filter((e) => e.component === "postgres");
    assert.ok(postgres.length > 5);
    for (const e of postgres) {
      assert.equal(e.operation, undefined, JSON.stringify(e));
      assert.equal(e.phase, undefined, JSON.stringify(e));
    }
  });

  test("Postgres FATALs of clients and of the shutdown are not fatal; nothing from Postgres is", () => {
    const postgres = entries().filter((e) => e.component === "postgres");
    const password = postgres.find((e) =>
      /password authentication failed for user "app"/.test(String(e.msg)),
    );
    assert.ok(password, "the wrong password was logged");
    assert.equal(password.pg_severity, "FATAL");
    assert.equal(password.level, 40, "a client's wrong password is a warning");
    const shutdown = postgres.find((e) =>
      /terminating connection due to administrator command/.test(String(e.msg)),
    );
    assert.ok(shutdown, "the held connection was terminated");
    assert.equal(shutdown.level, 30, "routine at every fast shutdown");
    const sqlError = postgres.find(
      (e) => e.pg_severity === "ERROR" && /no_such_table_in_lifecycle/.test(String(e.msg)),
    );
    assert.equal(sqlError?.level, 50);
    assert.deepEqual(
      postgres.filter((e) => Number(e.level) >= 60),
      [],
      "no Postgres line at level fatal",
    );
  });
});

test("Postgres severities: only PANIC is fatal; FATAL is an error unless routine", () => {
  assert.equal(postgresLogLevel("PANIC", "could not write to file"), "fatal");
  assert.equal(postgresLogLevel("FATAL", 'could not open file "global/pg_filenode.map"'), "error");
  assert.equal(postgresLogLevel("FATAL", "terminating connection due to administrator command"), "info");
  assert.equal(postgresLogLevel("FATAL", 'password authentication failed for user "x"'), "warn");
  assert.equal(postgresLogLevel("FATAL", 'no pg_hba.conf entry for host "1.2.3.4"'), "warn");
  assert.equal(postgresLogLevel("FATAL", 'database "nope" does not exist'), "warn");
  assert.equal(postgresLogLevel("FATAL", "the database system is shutting down"), "warn");
  assert.equal(postgresLogLevel("ERROR", 'role "x" does not exist'), "error");
  assert.equal(postgresLogLevel("WARNING", "x"), "warn");
  assert.equal(postgresLogLevel("LOG", "x"), "info");
  assert.equal(postgresLogLevel("DEBUG", "x"), "debug");
});
