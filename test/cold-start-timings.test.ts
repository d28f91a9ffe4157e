// End to end: the phase timings of a start from a launch spec account for the whole start. The
// phases on the critical path (one after the other, timed back to back) add up to
// `total_startup_ms` up to the rounding of each to whole milliseconds, however loaded the machine;
// the source's own phases (initdb_ms, template_copy_ms, ...) are parts of fetch_data_ms and are
// reported beside it, not added.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { REPO, type RunningAgent, startAgent } from "./support/agent.js";

/** In order: process start -> first start step, then the start steps. */
const CRITICAL_PATH = [
  "agent_start_ms",
  "prepare_pgdata_ms",
  "fetch_data_ms",
  "write_config_ms",
  "start_postgres_ms",
  "config_ms",
];

const agents: RunningAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
});

test("the critical-path phases of the example spec's start add up to total_startup_ms", async () => {
  const spec = JSON.parse(readFileSync(path.join(REPO, "examples/spec.json"), "utf8"));
  const agent = await startAgent({ spec, name: "cold-start-timings" });
  agents.push(agent);
  await agent.waitForStatus("running", 120_000);
  const m = (await (await agent.get("/metrics.json")).json()) as Record<string, number>;
  const missing = CRITICAL_PATH.filter((name) => typeof m[name] !== "number");
  assert.deepEqual(missing, [], `every critical-path phase is reported: ${JSON.stringify(m)}`);
  const sum = CRITICAL_PATH.reduce((acc, name) => acc + m[name], 0);
  const total = m.total_startup_ms;
  assert.ok(total > 0);
  // Each value is rounded to whole ms: at most half a millisecond off per phase and for the total.
  assert.ok(
    Math.abs(total - sum) <= (CRITICAL_PATH.length + 1) / 2,
    `phases add up to ${sum} ms, total_startup_ms is ${total} ms: ${JSON.stringify(m)}`,
  );
  // The source's phase is inside fetch_data_ms.
  const sourcePhase = m.template_copy_ms ?? m.template_staged_ms ?? m.initdb_ms ?? m.initdb_staged_ms;
  assert.ok(sourcePhase > 0 && sourcePhase <= m.fetch_data_ms, JSON.stringify(m));
});
