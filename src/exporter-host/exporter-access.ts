// How the agent reads the metrics exporter (a separate process serving HTTP on a Unix socket in
// PGDATA): its /metrics text merged after the agent's own families, and its samples for the
// StreamMetrics RPC. One collection path: both read the exporter's collector over the socket.
import type { Logger } from "pino";
import type { ExporterAccess } from "../compute/compute-api-impl.js";
import type { ComputeRuntime } from "../compute/compute-runtime.js";
import { mergePrometheusText } from "../exporter/prom-text-merge.js";
import { exporterSocketPath } from "../exporter/socket-address.js";
import { createAutoscalingAccess } from "./autoscaling-access.js";

const FETCH_TIMEOUT_MS = 2000;

export function createExporterAccess(rt: ComputeRuntime, log: Logger): ExporterAccess {
  const socketPath = () => exporterSocketPath(rt.options.pgdata);
  // Parsed at start so a malformed --autoscaling-metrics-allow/-rate refuses to start the agent.
  const access = createAutoscalingAccess({
    allow: rt.options.autoscalingMetricsAllow,
    rate: rt.options.autoscalingMetricsRate,
  });
  const text = async (): Promise<string | null> => {
    if (!rt.options.exporter || rt.postmaster?.running !== true) return null;
    const { fetchExporterMetrics } = await import("../exporter/fetch-exporter-metrics.js");
    return fetchExporterMetrics(socketPath(), FETCH_TIMEOUT_MS).catch((err: unknown) => {
      log.debug({ err }, "exporter metrics unavailable");
      return null;
    });
  };
  return {
    metricsText: text,
    async samples() {
      const t = await text();
      if (t === null) return [];
      const { parsePrometheusText } = await import("../exporter/prom-text-parser.js");
      return parsePrometheusText(t);
    },
    async forward(req, res, reqLog) {
      const { forwardAutoscalingMetrics } = await import("./forward-autoscaling-metrics.js");
      await forwardAutoscalingMetrics(req, res, { socketPath: socketPath(), access, log: reqLog });
    },
    merge(own, exporterText) {
      return exporterText ? mergePrometheusText(own, exporterText) : own;
    },
  };
}
