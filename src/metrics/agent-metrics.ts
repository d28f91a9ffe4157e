// The agent's own Prometheus families (prom-client), with Neon's names. `compute_ctl_up` has
// exactly one series at 1: the current status.
import type { ComputeStateMachine } from "../compute/state-machine.js";
import { displayStatus } from "../compute/status.js";
import { Counter, Gauge, Registry } from "./prom-client-parts.js";

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

  constructor(state?: ComputeStateMachine) {
    this.downtimeMsTotal.inc(0);
    if (state) this.follow(state);
  }

  follow(state: ComputeStateMachine): void {
    const set = (status: Parameters<typeof displayStatus>[0]) => {
      this.up.reset();
      this.up.set({ build_tag: BUILD_TAG, status: displayStatus(status) }, 1);
    };
    set(state.status);
    state.subscribe((s) => set(s.status));
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
