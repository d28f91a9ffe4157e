// The agent's log as operators read it: one JSON object per line by default (pino), readable
// text with --log-format pretty, every request with its x-request-id, Postgres's stderr as
// structured entries with the severity mapped to a level, and every start phase with its
// duration.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { parseSpec } from "../src/spec/parse.js";
import { planStartup } from "../src/startup/plan-startup.js";
import { initdbSource } from "../src/startup/sources/initdb.js";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";

type Entry = Record<string, unknown>;
const LEVEL = { debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

async function waitForEntry(agent: RunningAgent, what: string, pred: (e: Entry) => boolean): Promise<Entry> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = agent.logEntries().find(pred);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no log entry: ${what}\n${agent.logs().slice(-3000)}`);
    await sleep(25);
  }
}

describe("JSON log (default)", () => {
  let agent: RunningAgent;
  const spec = minimalSpec();
  before(async () => {
    agent = await startAgent({ spec, name: "logs-json" });
    await agent.waitForStatus("running");
  });
  after(async () => {
    await agent?.stop();
  });

  test("every line is a pino JSON object with level, time and msg", () => {
    const lines = agent
      .logs()
      .split("\n")
      .filter((l) => l.trim() !== "");
    assert.ok(lines.length > 10);
    for (const line of lines) {
      let e: Entry;
      try {
        e = JSON.parse(line);
      } catch {
        assert.fail(`not JSON: ${line}`);
      }
      assert.equal(typeof e.level, "number", line);
      assert.equal(typeof e.time, "number", line);
      assert.equal(typeof e.msg, "string", line);
    }
  });

  test("every request is logged with its x-request-id, method, path, status and duration", async () => {
    const mine = await agent.get("/status", { headers: { "x-request-id": "logs-test-42" } });
    assert.equal(mine.headers.get("x-request-id"), "logs-test-42");
    const e = await waitForEntry(
      agent,
      "request logs-test-42",
      (x) => x.msg === "request" && x.request_id === "logs-test-42",
    );
    assert.equal(e.method, "GET");
    assert.equal(e.path, "/status");
    assert.equal(e.status, 200);
    assert.equal(typeof e.duration_ms, "number");
    // Without one, the generated id is both answered and logged.
    const gen = await agent.get("/nope");
    const id = gen.headers.get("x-request-id");
    assert.match(id ?? "", /^[0-9a-f-]{36}$/);
    const e2 = await waitForEntry(
      agent,
      "request with generated id",
      (x) => x.msg === "request" && x.request_id === id,
    );
    assert.equal(e2.status, 404);
  });

  test("Postgres stderr becomes entries with pg_severity and a mapped level", async () => {
    await assert.rejects(agent.query("SELECT * FROM no_such_table_for_logs"));
    const error = await waitForEntry(
      agent,
      "Postgres ERROR",
      (e) => e.pg_severity === "ERROR" && String(e.msg).includes("no_such_table_for_logs"),
    );
    assert.equal(error.level, LEVEL.error);
    assert.equal(error.component, "postgres");
    const statement = await waitForEntry(
      agent,
      "Postgres STATEMENT",
      (e) => e.pg_severity === "STATEMENT" && String(e.msg).includes("no_such_table_for_logs"),
    );
    assert.equal(statement.level, LEVEL.info);
    const ready = agent
      .logEntries()
      .find((e) => e.pg_severity === "LOG" && /ready to accept connections/.test(String(e.msg)));
    assert.ok(ready, "the LOG line of a started Postgres");
    assert.equal(ready.level, LEVEL.info);
    // The prefix is parsed away: the message starts with Postgres's text.
    assert.match(String(error.msg), /^relation "no_such_table_for_logs" does not exist/);
  });

  test("every start phase is logged with its duration", () => {
    const steps = planStartup(parseSpec(spec), {
      initdb: initdbSource,
      primary: initdbSource,
      neon: initdbSource,
      archive: initdbSource,
    }).steps.map((s) => s.name);
    const done = agent.logEntries().filter((e) => e.msg === "start step done");
    assert.deepEqual(
      done.map((e) => e.step),
      steps,
      "one entry per step, in order",
    );
    // Each logged duration is the phase timing of its step (to 0.1 ms there, whole ms here).
    const finished = agent.logEntries().find((e) => e.msg === "compute start finished");
    const metrics = (finished?.metrics ?? {}) as Record<string, number>;
    const metricOf = new Map(
      planStartup(parseSpec(spec), {
        initdb: initdbSource,
        primary: initdbSource,
        neon: initdbSource,
        archive: initdbSource,
      }).steps.map((s) => [s.name, s.metric]),
    );
    for (const e of done) {
      const recorded = metrics[metricOf.get(String(e.step)) ?? ""];
      assert.ok(
        Math.abs(Number(e.duration_ms) - recorded) <= 0.5,
        `${e.step}: ${e.duration_ms} vs ${recorded}`,
      );
    }
    const stepsMs = [...metricOf.values()].reduce((sum, m) => sum + metrics[m], 0);
    assert.ok(
      metrics.total_startup_ms >= stepsMs - 1,
      `total ${metrics.total_startup_ms} ms, steps ${stepsMs} ms`,
    );
  });
});

test("--log-format pretty writes human-readable lines, not JSON", async (t) => {
  const agent = await startAgent({
    spec: minimalSpec(),
    args: ["--log-format", "pretty"],
    name: "logs-pretty",
  });
  t.after(() => agent.stop());
  await agent.waitForStatus("running");
  await agent.get("/status", { headers: { "x-request-id": "pretty-7" } });
  const deadline = Date.now() + 10_000;
  while (!agent.logs().includes("pretty-7") && Date.now() < deadline) await sleep(25);
  const lines = agent
    .logs()
    .split("\n")
    .filter((l) => l.trim() !== "");
  assert.ok(lines.length > 5);
  assert.equal(lines.filter((l) => l.trim().startsWith("{")).length, 0, "no JSON lines");
  assert.match(agent.logs(), /INFO.*HTTP server listening/);
  assert.match(agent.logs(), /request_id: "pretty-7"/);
  assert.match(agent.logs(), /compute status init -> running/);
});
