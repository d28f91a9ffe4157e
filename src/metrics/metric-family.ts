// The one metrics model: a family is data (name, HELP, type, samples), produced by the agent's
// registry and by the exporter's collectors alike, and rendered once at each edge - Prometheus text
// (prometheus-text.ts) on /metrics, /autoscaling_metrics and the exporter's socket, samples for
// the StreamMetrics RPC. Families are plain data, so they cross from the exporter's thread to
// the agent's as they are (structured clone), never as text to be parsed again.
import type { MetricSample } from "../api/compute-api.js";

export type MetricType = "gauge" | "counter" | "untyped";

export interface Sample {
  labels?: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** `first`, then the families of `second` whose names `first` does not use (the first source wins). */
export function unionByName(first: readonly MetricFamily[], second: readonly MetricFamily[]): MetricFamily[] {
  const taken = new Set(first.map((f) => f.name));
  return [...first, ...second.filter((f) => !taken.has(f.name))];
}

/** Every sample of `families`, in order, as the StreamMetrics RPC sends them. */
export function flattenSamples(families: readonly MetricFamily[]): MetricSample[] {
  const out: MetricSample[] = [];
  for (const f of families)
    for (const s of f.samples) out.push({ name: f.name, labels: s.labels ?? {}, value: s.value });
  return out;
}
