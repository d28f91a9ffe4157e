// End to end: the agent starts the metrics exporter once running and forwards
// /autoscaling_metrics to it; /metrics serves the agent's families followed by the exporter's.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { strictParse } from "./support/prometheus-strict.js";

let agent: RunningAgent;
before(async () => {
  agent = await startAgent({ spec: minimalSpec({ skip_pg_catalog_updates: true }), name: "exporter-agent" });
  await agent.waitForStatus("running");
});
after(async () => {
  await agent?.stop();
});

/** The exporter starts once the compute runs: wait for it (generously). */
async function eventually200(path: string): Promise<Response> {
  let last: Response | null = null;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    last = await agent.get(path);
    if (last.status === 200) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${path} never answered 200 (last ${last?.status})`);
}

test("the agent's /autoscaling_metrics returns the six autoscaling families and 60 window series", async () => {
  const res = await eventually200("/autoscaling_metrics");
  assert.match(res.headers.get("content-type") ?? "", /text\/plain; version=0\.0\.4/);
  const families = strictParse(await res.text());
  for (const name of ["lfc_cache_size_limit", "lfc_hits", "lfc_misses", "lfc_used", "lfc_writes"]) {
    assert.ok(families.has(name), name);
  }
  const windows = families.get("lfc_approximate_working_set_size_windows");
  assert.equal(windows?.samples.length, 60);
  assert.equal(families.size, 6);
});

test("the agent's /metrics merges its own and the exporter's families into one valid exposition", async () => {
  let families = strictParse(await (await agent.get("/metrics")).text());
  const deadline = Date.now() + 60_000;
  while (!families.has("lfc_hits") && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    families = strictParse(await (await agent.get("/metrics")).text());
  }
  assert.ok(families.has("compute_ctl_up"));
  assert.ok(families.has("lfc_hits"), "exporter families present");
  // Postgres-set families of the exporter, and the exporter's own health.
  for (const name of ["checkpoints_req", "compute_current_lsn", "compute_exporter_up"]) {
    assert.ok(families.has(name), name);
  }
});
