// The agent's side of the metrics exporter: starts and stops its supervised thread (a background
// service, on `running`), reads its families for /metrics and StreamMetrics, and answers
// GET /autoscaling_metrics from it behind the access policy. The supervisor and the forwarder
// load when first needed, not with the agent.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { ExporterAccess } from "../compute/compute-api-impl.js";
import type { ComputeRuntime } from "../compute/compute-runtime.js";
import * as load from "../loading/modules.js";
import type { MetricFamily } from "../metrics/metric-family.js";
import { createAutoscalingAccess } from "./autoscaling-access.js";
import type { ExporterHandle } from "./exporter-supervisor.js";

const READ_TIMEOUT_MS = 2000;

export interface ExporterHost extends ExporterAccess {
  /** Starts the exporter thread (once; not when the exporter is turned off). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createExporterHost(rt: ComputeRuntime, log: Logger): ExporterHost {
  // Parsed at start so a malformed --autoscaling-metrics-allow/-rate refuses to start the agent.
  const access = createAutoscalingAccess({
    allow: rt.options.autoscalingMetricsAllow,
    rate: rt.options.autoscalingMetricsRate,
  });
  let handle: ExporterHandle | null = null;
  let stopped = false;
  return {
    async start() {
      if (!rt.options.exporter || handle || stopped) return;
      const { startExporter } = await load.exporterSupervisor();
      if (handle || stopped) return;
      handle = startExporter({
        pgdata: rt.options.pgdata,
        connstr: rt.options.connstr,
        log: rt.log,
        socketOwner: rt.osUser,
      });
    },
    async stop() {
      stopped = true;
      await handle?.stop();
    },
    async families(): Promise<MetricFamily[]> {
      if (!handle?.running || rt.postmaster?.running !== true) return [];
      try {
        const reply = await handle.read("metrics", READ_TIMEOUT_MS);
        return reply.status === 200 ? reply.families : [];
      } catch (err) {
        log.debug({ err }, "exporter metrics unavailable");
        return [];
      }
    },
    async forward(req: IncomingMessage, res: ServerResponse, reqLog: () => Logger) {
      const { forwardAutoscalingMetrics } = await load.autoscalingForwarder();
      await forwardAutoscalingMetrics(req, res, { exporter: stopped ? null : handle, access, log: reqLog });
    },
  };
}
