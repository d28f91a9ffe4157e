// Work that runs beside the compute once it is running: the activity monitor (and, as they are
// wired, migrations, the metrics exporter and the vm-monitor). Stopped before the agent exits.

import type { ExporterAccess } from "../compute/compute-api-impl.js";
import type { ComputeRuntime } from "../compute/compute-runtime.js";
import type { AgentMetrics } from "../metrics/agent-metrics.js";
import type { ActivityMonitor } from "../monitor/activity-monitor.js";

export interface BackgroundServices {
  stop(): Promise<void>;
}

export function startBackgroundServices(
  rt: ComputeRuntime,
  _metrics: AgentMetrics,
  _exporter: ExporterAccess,
  monitor: ActivityMonitor,
): BackgroundServices {
  const unsubscribe = rt.state.subscribe((s, prev) => {
    if (s.status === "running" && prev.status !== "running") monitor.start();
    if (s.status === "terminated" || s.status.startsWith("termination_pending")) void monitor.stop();
  });
  return {
    async stop() {
      unsubscribe();
      await monitor.stop();
    },
  };
}
