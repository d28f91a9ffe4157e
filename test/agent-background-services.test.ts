// The background services are loaded while the compute starts (agent-services.ts), so they must
// start when the compute is already running by the time they subscribe, and stop when it is
// terminated.
import assert from "node:assert/strict";
import { test } from "node:test";
import { pino } from "pino";
import { startBackgroundServices } from "../src/agent/background-services.js";
import { parseCli } from "../src/cli/args.js";
import { ComputeRuntime } from "../src/compute/compute-runtime.js";
import { AgentMetrics } from "../src/metrics/agent-metrics.js";
import type { ActivityMonitor } from "../src/monitor/activity-monitor.js";
import type { ReadinessProbe } from "../src/monitor/readiness-probe.js";
import { resolvePgBinaries } from "../src/postgres/binaries.js";
import type { SourceFactories } from "../src/startup/plan-startup.js";

function runtime(): ComputeRuntime {
  const cli = parseCli([
    "-D",
    "/nonexistent/pgdata",
    "-C",
    "postgresql://postgres@127.0.0.1:1/postgres",
    "--no-exporter",
  ]);
  assert.equal(cli.kind, "run");
  if (cli.kind !== "run") throw new Error("unreachable");
  const noSources = {} as SourceFactories;
  return new ComputeRuntime({
    options: cli.options,
    computeCtlConfig: {},
    pg: resolvePgBinaries(),
    osUser: null,
    log: pino({ level: "silent" }),
    sources: noSources,
  });
}

test("services subscribing after the compute reached running still start, and stop on termination", async () => {
  const rt = runtime();
  rt.state.transition("init");
  rt.state.transition("running");
  const calls: string[] = [];
  const monitor = {
    start: () => calls.push("start"),
    stop: async () => {
      calls.push("stop");
    },
  } as unknown as ActivityMonitor;
  const readiness = {
    start: () => calls.push("readiness start"),
    stop: () => calls.push("readiness stop"),
  } as unknown as ReadinessProbe;
  const services = startBackgroundServices(
    rt,
    new AgentMetrics(),
    { start: async () => {}, stop: async () => {} },
    monitor,
    readiness,
  );
  assert.deepEqual(
    calls,
    ["readiness start", "start"],
    "the probe and the activity monitor started although `running` came first",
  );
  rt.state.transition("termination_pending_fast");
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls, ["readiness start", "start", "readiness stop", "stop"]);
  await services.stop();
});
