// End to end: the agent starts the metrics exporter once running, as a thread of its own process
// serving the socket in PGDATA, and forwards /autoscaling_metrics to it; /metrics serves the
// agent's families followed by the exporter's. A hung or crashed exporter thread (test hooks on
// the socket) never blocks the agent's event loop and is ended and restarted.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { childPids, minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { curlSocket, waitFor } from "./support/exporter-harness.js";
import { strictParse } from "./support/prometheus-strict.js";

let agent: RunningAgent;
before(async () => {
  agent = await startAgent({
    spec: minimalSpec({ skip_pg_catalog_updates: true }),
    name: "exporter-agent",
    env: { COMPUTE_CTL_EXPORTER_TEST_HOOKS: "1" },
  });
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

test("the exporter is a thread of the agent: no second Node process, the socket in PGDATA serves the six families", async () => {
  await eventually200("/autoscaling_metrics");
  const socket = path.join(agent.pgdata, "neon-communicator.socket");
  const direct = await curlSocket(socket, "/autoscaling_metrics");
  assert.equal(direct.status, 200);
  assert.equal(strictParse(direct.body).size, 6);
  const agentPid = agent.proc.pid as number;
  const children = childPids(agentPid).map((pid) => readFileSync(`/proc/${pid}/comm`, "utf8").trim());
  assert.deepEqual(
    children.filter((c) => c !== "postgres"),
    [],
    `the agent's children are Postgres only: ${children.join(", ")}`,
  );
});

test("a hung exporter thread never blocks the agent: /healthz answers, the watchdog ends it, it is restarted", async () => {
  await eventually200("/autoscaling_metrics");
  const socket = path.join(agent.pgdata, "neon-communicator.socket");
  const logsBefore = agent.logEntries().length;
  // The thread answers 202, then spins for good: its event loop never turns again.
  assert.equal((await curlSocket(socket, "/test/hang", 10, "POST")).status, 202);
  const hungFor = () =>
    agent
      .logEntries()
      .slice(logsBefore)
      .find((l) => l.msg === "metrics exporter does not answer; ending it");
  // While it spins, the agent serves: /healthz, and /autoscaling_metrics as a 502 (the read's
  // timeout), never a hang. The loop runs until the watchdog has ended the thread.
  let answered = 0;
  while (!hungFor()) {
    const t0 = Date.now();
    const health = await agent.get("/healthz", { signal: AbortSignal.timeout(10_000) });
    assert.equal(health.status, 200);
    answered++;
    const auto = await agent.get("/autoscaling_metrics", { signal: AbortSignal.timeout(30_000) });
    if (!hungFor()) assert.ok(auto.status === 502 || auto.status === 200, `status ${auto.status}`);
    assert.ok(Date.now() - t0 < 30_000);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(answered > 0);
  // Restarted after the back-off, and the socket is served again by the new thread.
  await eventually200("/autoscaling_metrics");
  const direct = await waitFor(
    "the restarted exporter on the socket",
    async () => (await curlSocket(socket, "/autoscaling_metrics")).status === 200,
    60_000,
    100,
  );
  assert.ok(direct);
  const exited = agent
    .logEntries()
    .slice(logsBefore)
    .find((l) => l.msg === "metrics exporter exited; restarting");
  assert.ok(exited, "the supervisor logged the end of the hung thread and its restart");
});

test("a crashed exporter thread is restarted; the agent lives on", async () => {
  await eventually200("/autoscaling_metrics");
  const socket = path.join(agent.pgdata, "neon-communicator.socket");
  const logsBefore = agent.logEntries().length;
  assert.equal((await curlSocket(socket, "/test/crash", 10, "POST")).status, 202);
  await waitFor(
    "the crash noticed",
    () =>
      agent
        .logEntries()
        .slice(logsBefore)
        .some((l) => l.msg === "metrics exporter exited; restarting"),
    60_000,
    50,
  );
  assert.equal((await agent.get("/healthz")).status, 200);
  await eventually200("/autoscaling_metrics");
  assert.equal((await curlSocket(socket, "/autoscaling_metrics")).status, 200);
});
