// The agent's own Prometheus families, with Neon's names. `compute_ctl_up` has
// exactly one series at 1: the current status.
import type { LfcCounts } from "../lfc/lfc-controller.js";
import type { ComputeStateMachine } from "../state/state-machine.js";
import { displayStatus } from "../state/status.js";
import type { MetricFamily } from "./metric-family.js";
import { Counter, Gauge, Registry } from "./metric-registry.js";

export const BUILD_TAG = process.env.BUILD_TAG ?? "latest";

export class AgentMetrics {
  readonly registry = new Registry();
  readonly up = new Gauge({
    name: "compute_ctl_up",
    help: "Compute status: 1 for the current status only",
    labelNames: ["build_tag", "status"] as const,
    registers: [this.registry],
  });
  readonly currentDowntimeMs = new Gauge({
    name: "compute_pg_current_downtime_ms",
    help: "How long Postgres has been unreachable by the activity monitor (0 when up)",
    registers: [this.registry],
  });
  readonly downtimeMsTotal = new Counter({
    name: "compute_pg_downtime_ms_total",
    help: "Total time Postgres was unreachable by the activity monitor",
    registers: [this.registry],
  });
  readonly migrationFailed = new Counter({
    name: "compute_ctl_db_migration_failed_total",
    help: "Failed SQL migrations, by migration id",
    labelNames: ["migration_id"] as const,
    registers: [this.registry],
  });
  readonly cplaneRequests = new Counter({
    name: "compute_ctl_cplane_requests_total",
    help: "Requests to the control plane for the compute config",
    labelNames: ["rpc", "http_status"] as const,
    registers: [this.registry],
  });

  readonly lfcPrewarms = new Counter({
    name: "compute_ctl_lfc_prewarms_total",
    help: "Cache prewarms started (POST /lfc/prewarm, PrewarmLfc, autoprewarm)",
    registers: [this.registry],
  });
  readonly lfcPrewarmErrors = new Counter({
    name: "compute_ctl_lfc_prewarm_errors_total",
    help: "Cache prewarms that failed",
    registers: [this.registry],
  });
  readonly lfcOffloads = new Counter({
    name: "compute_ctl_lfc_offloads_total",
    help: "Cache offloads started (POST /lfc/offload, OffloadLfc, offload_lfc_interval_seconds)",
    registers: [this.registry],
  });
  readonly lfcOffloadErrors = new Counter({
    name: "compute_ctl_lfc_offload_errors_total",
    help: "Cache offloads that failed",
    registers: [this.registry],
  });
  readonly remoteExtRequests = new Counter({
    name: "compute_ctl_remote_ext_requests_total",
    help: "Extension archive downloads from the remote extensions server, by HTTP status and archive file",
    labelNames: ["http_status", "filename"] as const,
    registers: [this.registry],
  });
  readonly installedExtensions = new Gauge({
    name: "compute_installed_extensions",
    help: "Number of databases where each extension version is installed",
    labelNames: ["extension_name", "version", "owned_by_superuser"] as const,
    registers: [this.registry],
  });
  readonly auditLogDirSize = new Gauge({
    name: "compute_audit_log_dir_size",
    help: "Bytes of the *log files in <pgdata>/log, where pgaudit writes compliance audit logs",
    registers: [this.registry],
  });

  constructor(state?: ComputeStateMachine) {
    this.downtimeMsTotal.inc(0);
    for (const c of [this.lfcPrewarms, this.lfcPrewarmErrors, this.lfcOffloads, this.lfcOffloadErrors])
      c.inc(0);
    if (state) this.follow(state);
  }

  /** compute_ctl_remote_ext_requests_total reads the downloads' tally at scrape time. */
  countRemoteExtRequests(
    tally: () => { labels: { http_status: string; filename: string }; n: number }[],
  ): void {
    const counter = this.remoteExtRequests;
    counter.collect = () => {
      counter.reset();
      for (const { labels, n } of tally()) counter.inc(labels, n);
    };
  }

  /** The cache prewarm/offload counters read the controller's counts at scrape time. */
  countLfc(counts: () => Readonly<LfcCounts>): void {
    const pairs = [
      [this.lfcPrewarms, "prewarms"],
      [this.lfcPrewarmErrors, "prewarmErrors"],
      [this.lfcOffloads, "offloads"],
      [this.lfcOffloadErrors, "offloadErrors"],
    ] as const;
    for (const [counter, key] of pairs) {
      counter.collect = () => {
        counter.reset();
        counter.inc(counts()[key]);
      };
    }
  }

  /** compute_audit_log_dir_size reads the directory at scrape time. */
  measureAuditLogDir(size: () => number): void {
    const gauge = this.auditLogDirSize;
    gauge.collect = () => gauge.set(size());
  }

  /** Replaces compute_installed_extensions with a fresh collection (extensions dropped since go). */
  setInstalledExtensions(
    rows: readonly { extname: string; version: string; ownedBySuperuser: boolean; databases: number }[],
  ): void {
    this.installedExtensions.reset();
    for (const r of rows)
      this.installedExtensions.set(
        { extension_name: r.extname, version: r.version, owned_by_superuser: r.ownedBySuperuser ? "1" : "0" },
        r.databases,
      );
  }

  follow(state: ComputeStateMachine): void {
    const set = (status: Parameters<typeof displayStatus>[0]) => {
      this.up.reset();
      this.up.set({ build_tag: BUILD_TAG, status: displayStatus(status) }, 1);
    };
    set(state.status);
    state.subscribe((s) => set(s.status));
  }

  families(): MetricFamily[] {
    return this.registry.families();
  }
}
