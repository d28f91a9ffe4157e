// What the exporter folder offers the agent: supervising the exporter process, forwarding
// /autoscaling_metrics with its access policy, reading the exporter's /metrics, and the
// Prometheus text helpers for the agent's /metrics and StreamMetrics.

export { EXPORTER_APPLICATION_NAME } from "../exporter/exporter-connection.js";
export { fetchExporterMetrics } from "../exporter/fetch-exporter-metrics.js";
export { mergePrometheusText } from "../exporter/prom-text-merge.js";
export { parsePrometheusText } from "../exporter/prom-text-parser.js";
export { exporterSocketPath, SOCKET_NAME } from "../exporter/socket-address.js";
export { PROMETHEUS_CONTENT_TYPE } from "../metrics/prometheus-text.js";
export {
  type AccessDecision,
  type AutoscalingAccess,
  createAutoscalingAccess,
} from "./autoscaling-access.js";
export { type ExporterHandle, type StartExporterOptions, startExporter } from "./exporter-supervisor.js";
export { type ForwardOptions, forwardAutoscalingMetrics } from "./forward-autoscaling-metrics.js";
