// The composition root: loads the launch config, builds the runtime, starts the API servers and
// the background services, runs the compute, and returns the process exit code.
import type { Logger } from "pino";
import { loadLaunchConfig } from "../cli/config-source.js";
import type { AgentOptions } from "../cli/options.js";
import { createComputeApi } from "../compute/compute-api-impl.js";
import { ComputeRuntime } from "../compute/compute-runtime.js";
import { startCompute } from "../compute/start-compute.js";
import { AgentMetrics } from "../metrics/agent-metrics.js";
import { ActivityMonitor } from "../monitor/activity-monitor.js";
import { resolvePgBinaries } from "../postgres/binaries.js";
import { postgresOsUser } from "../postgres/os-user.js";
import { startApiServers } from "./api-servers.js";
import { startBackgroundServices } from "./background-services.js";
import { createExporterAccess } from "./exporter-access.js";
import { installSignalHandlers } from "./signals.js";
import { agentSources } from "./sources.js";

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

export async function runAgent(options: AgentOptions, log: Logger): Promise<number> {
  const metrics = new AgentMetrics();
  const launch = await loadLaunchConfig(options, log, (status) =>
    metrics.cplaneRequests.inc({ rpc: "GetConfig", http_status: status }),
  );
  const pg = resolvePgBinaries(options.pgbin);
  const osUser = postgresOsUser(options.pgUser);
  const rt = new ComputeRuntime(options, launch.computeCtlConfig, pg, osUser, log, agentSources(options));
  metrics.follow(rt.state);
  rt.state.subscribe((s, prev) =>
    log.info(
      { from: prev.status, to: s.status, error: s.error ?? undefined },
      `compute status ${prev.status} -> ${s.status}`,
    ),
  );
  const exporter = createExporterAccess(rt, log);
  const api = createComputeApi(rt, metrics, exporter);

  const skipGrace = new AbortController();
  const removeSignals = installSignalHandlers(rt, () => skipGrace.abort());
  const monitor = new ActivityMonitor({
    connstr: options.connstr,
    intervalMs: options.monitorIntervalMs,
    activity: rt.activity,
    downtime: {
      setCurrentDowntimeMs: (ms) => metrics.currentDowntimeMs.set(ms),
      addDowntimeMs: (ms) => metrics.downtimeMsTotal.inc(ms),
    },
    log: log.child({ component: "activity_monitor" }),
  });
  const background = startBackgroundServices(rt, metrics, exporter, monitor);

  // The start pipeline and the API listeners come up concurrently.
  if (launch.spec) void startCompute(rt, launch.spec, "launch");
  let servers: Awaited<ReturnType<typeof startApiServers>>;
  try {
    servers = await startApiServers(rt, api, log);
  } catch (err) {
    // Without an API the compute cannot be managed: stop what the pipeline started.
    rt.shutdown.abort(err);
    await rt.state.waitFor((st) => st.status !== "init" && st.status !== "configuration");
    await background.stop();
    if (rt.postmaster?.running) await rt.postmaster.stop("fast");
    removeSignals();
    throw err;
  }

  const exit = await rt.exitRequested();
  if (exit.delay === "grace" && !skipGrace.signal.aborted) {
    log.info({ grace_s: options.exitGraceS }, "keeping the API up before exiting");
    await sleep(options.exitGraceS * 1000, skipGrace.signal);
  } else {
    await sleep(200, skipGrace.signal);
  }
  await background.stop();
  const pm = rt.postmaster;
  if (pm?.running) {
    log.info("stopping Postgres before exit");
    await pm.stop("fast");
  }
  await servers.close();
  removeSignals();
  log.info({ exit_code: exit.code }, "compute_ctl exiting");
  return exit.code;
}
