// What the agent runs around the compute: its metrics, the API (REST and gRPC/Connect), the
// activity monitor and the background services. Loaded by run-agent.ts after the start pipeline
// has been kicked off, so this module graph (the metrics, the routes, the API facade) loads
// while data is copied rather than before.
import path from "node:path";
import type { Logger } from "pino";
import type { EarlyListeners } from "../api/rest/early-listener.js";
import { createComputeApi } from "../compute/compute-api-impl.js";
import type { ComputeRuntime } from "../compute/compute-runtime.js";
import { createExporterHost } from "../exporter-host/exporter-host.js";
import { AgentMetrics } from "../metrics/agent-metrics.js";
import { ActivityMonitor } from "../monitor/activity-monitor.js";
import { auditLogDirSize } from "../monitor/audit-log-dir.js";
import { ReadinessProbe } from "../monitor/readiness-probe.js";
import { registerCertificateExpiry } from "../tls/expiry-metric.js";
import { type ApiServers, startApiServers } from "./api-servers.js";
import { type BackgroundServices, startBackgroundServices } from "./background-services.js";

export interface AgentServices {
  readonly background: BackgroundServices;
  /** The listeners; rejects when one cannot be started (the agent then stops). */
  readonly servers: Promise<ApiServers>;
}

export function startAgentServices(
  rt: ComputeRuntime,
  log: Logger,
  opts: { early?: EarlyListeners; controlPlaneAttempts: readonly string[] },
): AgentServices {
  const metrics = new AgentMetrics();
  for (const status of opts.controlPlaneAttempts)
    metrics.cplaneRequests.inc({ rpc: "GetConfig", http_status: status });
  metrics.follow(rt.state);
  const remoteExt = rt.remoteExt;
  if (remoteExt) metrics.countRemoteExtRequests(() => remoteExt.requestCounts());
  metrics.countLfc(() => rt.lfc.counts());
  metrics.measureAuditLogDir(() => auditLogDirSize(path.join(rt.options.pgdata, "log")));
  registerCertificateExpiry(metrics.registry, () =>
    [...rt.tlsCertificates].map(([listener, c]) => ({ listener, current: c.current })),
  );
  const exporter = createExporterHost(rt, log);
  const readiness = new ReadinessProbe({
    connstr: rt.options.connstr,
    maxAgeMs: rt.options.readyMaxAgeS * 1000,
    log: log.child({ component: "readiness" }),
  });
  const api = createComputeApi(rt, metrics, exporter, readiness);
  const monitor = new ActivityMonitor({
    connstr: rt.options.connstr,
    intervalMs: rt.options.monitorIntervalMs,
    activity: rt.activity,
    downtime: {
      setCurrentDowntimeMs: (ms) => metrics.currentDowntimeMs.set(ms),
      addDowntimeMs: (ms) => metrics.downtimeMsTotal.inc(ms),
    },
    log: log.child({ component: "activity_monitor" }),
    databaseStats: () => rt.spec?.json.features.includes("activity_monitor_experimental") === true,
  });
  const background = startBackgroundServices(rt, metrics, exporter, monitor, readiness);
  return { background, servers: startApiServers(rt, api, log, exporter.forward, opts.early) };
}
