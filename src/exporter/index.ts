// What the exporter folder offers the agent: supervising the exporter process, forwarding
// /autoscaling_metrics with its access policy, reading the exporter's /metrics, and the
// Prometheus text helpers for the agent's /metrics and StreamMetrics.
export {
  type AccessDecision,
  type AutoscalingAccess,
  createAutoscalingAccess,
} from "./autoscaling-access.js";
export { EXPORTER_APPLICATION_NAME } from "./exporter-connection.js";
export { type ExporterHandle, type StartExporterOptions, startExporter } from "./exporter-supervisor.js";
export { fetchExporterMetrics } from "./fetch-exporter-metrics.js";
export { type ForwardOptions, forwardAutoscalingMetrics } from "./forward-autoscaling-metrics.js";
export { mergePrometheusText } from "./prom-text-merge.js";
export { parsePrometheusText } from "./prom-text-parser.js";
export { PROMETHEUS_CONTENT_TYPE } from "./prom-text-writer.js";
export { exporterSocketPath, SOCKET_NAME } from "./socket-address.js";
