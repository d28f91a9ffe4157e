// The exporter's /metrics text for the agent: its own /metrics appends it (through
// mergePrometheusText), and StreamMetrics parses it, so both read the exporter's one collector.
import { getFromExporter } from "./exporter-request.js";

export async function fetchExporterMetrics(socketPath: string, timeoutMs: number): Promise<string> {
  const res = await getFromExporter(socketPath, "/metrics", timeoutMs);
  if (res.status !== 200) {
    throw new Error(
      `metrics exporter answered /metrics with HTTP ${res.status}: ${res.body.toString("utf8").slice(0, 200)}`,
    );
  }
  return res.body.toString("utf8");
}
