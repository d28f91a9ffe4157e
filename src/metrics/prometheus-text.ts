// Prometheus text exposition (format 0.0.4), the one renderer of the metrics model
// (metric-family.ts) at every text edge: the agent's /metrics and /autoscaling_metrics and the
// exporter's socket. This text is our product, read by the autoscaler and strict parsers, so
// every family gets exactly one HELP and one TYPE line, its samples follow contiguously, and label
// values and HELP texts are escaped as the format says.
import type { MetricFamily } from "./metric-family.js";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** HELP text: backslash and line feed are escaped. */
export function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/** Label value: backslash, double quote and line feed are escaped. */
export function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** Go's ParseFloat accepts what `String(n)` prints for finite numbers; the specials are spelled out. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function formatLabels(family: string, labels: Record<string, string> | undefined): string {
  if (!labels) return "";
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  const parts = keys.map((k) => {
    if (!LABEL_NAME.test(k) || k.startsWith("__"))
      throw new Error(`metric ${family}: invalid label name ${JSON.stringify(k)}`);
    return `${k}="${escapeLabelValue(labels[k])}"`;
  });
  return `{${parts.join(",")}}`;
}

/** Renders families in the given order; throws on invalid or repeated names (a programming error). */
export function renderFamilies(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  let out = "";
  for (const f of families) {
    if (!METRIC_NAME.test(f.name)) throw new Error(`invalid metric name ${JSON.stringify(f.name)}`);
    if (seen.has(f.name)) throw new Error(`metric family ${f.name} rendered twice`);
    seen.add(f.name);
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) out += `${f.name}${formatLabels(f.name, s.labels)} ${formatValue(s.value)}\n`;
  }
  return out;
}
