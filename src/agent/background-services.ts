// Work that runs beside the compute once it is running: the readiness probe, the activity
// monitor, SQL migrations, the metrics exporter, the installed-extensions collection and
// (AUTOSCALING) the vm-monitor. Each starts when the compute first
// reaches `running` (so it does not compete with start-up) and stops with Postgres.

import { specAppliesSql } from "../apply/apply-spec-to-postgres.js";
import type { ComputeRuntime } from "../compute/compute-runtime.js";
import { runtimeSourceContext } from "../compute/source-hooks.js";
import * as load from "../loading/modules.js";
import type { AgentMetrics } from "../metrics/agent-metrics.js";
import type { ActivityMonitor } from "../monitor/activity-monitor.js";
import type { ReadinessProbe } from "../monitor/readiness-probe.js";
import { toConnstrUrl } from "../postgres/keyword-connstr.js";

export interface BackgroundServices {
  stop(): Promise<void>;
}

/** The metrics exporter as a service (src/exporter-host/exporter-host.ts). */
export interface ExporterService {
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface Service {
  name: string;
  start(): Promise<{ stop(): Promise<void> } | null>;
}

function vmMonitorService(rt: ComputeRuntime): Service {
  return {
    name: "vm-monitor",
    async start() {
      if (!rt.options.autoscaling) return null;
      const { startVmMonitor } = await load.autoscaling();
      const monitor = await startVmMonitor({
        addr: rt.options.vmMonitorAddr,
        cgroup: rt.options.cgroup,
        // Neon's --filecache-connstr names the vm-monitor's connection; without it, -C.
        connstr: rt.options.filecacheConnstr ? toConnstrUrl(rt.options.filecacheConnstr) : rt.options.connstr,
        disableLfcResizing: rt.spec?.json.disable_lfc_resizing === true,
        log: rt.log,
        signal: rt.shutdown.signal,
      });
      rt.log.info({ port: monitor.port, addr: rt.options.vmMonitorAddr }, "vm-monitor listening");
      return { stop: () => monitor.close() };
    },
  };
}

/** SQL migrations, once per cluster, in the background after start (primary only). */
function migrationsService(rt: ComputeRuntime, metrics: AgentMetrics): Service {
  return {
    name: "migrations",
    async start() {
      if (!rt.spec || !specAppliesSql(rt.spec)) return null;
      const { runMigrations } = await load.reconciler();
      const report = await runMigrations({
        target: { connstr: rt.options.connstr },
        log: rt.log.child({ component: "migrations" }),
        privilegedRole: rt.options.privilegedRoleName,
        onFailure: (id) => metrics.migrationFailed.inc({ migration_id: String(id) }),
      });
      rt.log.info({ applied: report.applied, failed: report.failed }, "migrations done");
      return null;
    },
  };
}

/** The metrics exporter thread, supervised; stopped with Postgres. */
function exporterService(exporter: ExporterService): Service {
  return {
    name: "exporter",
    async start() {
      await exporter.start();
      return { stop: () => exporter.stop() };
    },
  };
}

/** The data source's own work while the compute runs (archive: backups, archiver monitor). */
function sourceService(rt: ComputeRuntime, metrics: AgentMetrics): Service {
  return {
    name: "source",
    async start() {
      const ctx = runtimeSourceContext(rt);
      if (!ctx || !rt.source?.whileRunning) return null;
      return rt.source.whileRunning(ctx, { registry: metrics.registry });
    },
  };
}

/**
 * compute_installed_extensions: collected once the compute runs, then every interval (the spec's
 * suspend_timeout_seconds if positive, else --installed-extensions-collection-interval).
 */
function installedExtensionsService(rt: ComputeRuntime, metrics: AgentMetrics): Service {
  return {
    name: "installed-extensions",
    async start() {
      const { collectInstalledExtensions, collectionIntervalS } = await load.installedExtensions();
      const log = rt.log.child({ component: "installed_extensions" });
      let timer: NodeJS.Timeout | null = null;
      let stopped = false;
      const collect = async () => {
        try {
          const rows = await collectInstalledExtensions({ connstr: rt.options.connstr });
          metrics.setInstalledExtensions(rows);
          log.info({ extensions: rows }, "installed extensions collected");
        } catch (err) {
          log.warn({ error: (err as Error).message }, "could not collect installed extensions");
        }
        if (stopped) return;
        const s = collectionIntervalS(
          rt.spec?.json.suspend_timeout_seconds,
          rt.options.installedExtensionsIntervalS,
        );
        timer = setTimeout(() => void collect(), s * 1000);
        timer.unref();
      };
      void collect();
      return {
        stop: async () => {
          stopped = true;
          if (timer) clearTimeout(timer);
        },
      };
    },
  };
}

export function startBackgroundServices(
  rt: ComputeRuntime,
  metrics: AgentMetrics,
  exporter: ExporterService,
  monitor: ActivityMonitor,
  readiness: ReadinessProbe,
): BackgroundServices {
  const services: Service[] = [
    migrationsService(rt, metrics),
    exporterService(exporter),
    vmMonitorService(rt),
    sourceService(rt, metrics),
    installedExtensionsService(rt, metrics),
  ];
  const running: { name: string; stop(): Promise<void> }[] = [];
  let started = false;
  const stopAll = async () => {
    const list = running.splice(0);
    readiness.stop();
    await Promise.all([
      monitor.stop(),
      ...list.map((s) =>
        s
          .stop()
          .catch((err: unknown) => rt.log.warn({ err, service: s.name }, "background service stop failed")),
      ),
    ]);
  };
  const onState = (s: { status: string }) => {
    if (s.status === "running" && !started) {
      started = true;
      readiness.start();
      monitor.start();
      for (const svc of services) {
        svc.start().then(
          (h) => {
            if (h) running.push({ name: svc.name, stop: h.stop });
          },
          (err: unknown) => rt.log.error({ err, service: svc.name }, "background service failed to start"),
        );
      }
    }
    if (s.status === "terminated" || s.status.startsWith("termination_pending")) void stopAll();
  };
  // Cache prewarm/offload: autoprewarm on the first `running`, the offload timer re-armed on every
  // `running` (a reconfiguration may change its interval), everything stopped on termination.
  const onLfc = (s: { status: string }, prev?: { status: string }) => {
    if (s.status === "running" && prev?.status !== "running") rt.lfc.onRunning();
    if (s.status === "terminated" || s.status.startsWith("termination_pending")) rt.lfc.stop();
  };
  const unsubscribeLfc = rt.state.subscribe(onLfc);
  onLfc(rt.state.snapshot);
  const unsubscribe = rt.state.subscribe(onState);
  // These services are loaded while the compute starts: it may be running already.
  onState(rt.state.snapshot);
  return {
    async stop() {
      unsubscribe();
      unsubscribeLfc();
      rt.lfc.stop();
      await stopAll();
    },
  };
}
