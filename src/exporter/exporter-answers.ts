// The exporter's two answers, as families: what its socket serves as text and what the agent
// receives as data (thread-protocol.ts), so both are the same answer from the same collections.
//   autoscaling  exactly the six autoscaling families; 503 before the first collection
//   metrics      autoscaling set + Postgres set + the exporter's health, always 200
// A scrape waits at most the deadline; a stale answer says so (and, on `metrics`, in the health
// families).
import type { MetricFamily } from "../metrics/metric-family.js";
import type { BufferSampler } from "./buffer-sampler.js";
import type { ExporterConnection } from "./exporter-connection.js";
import { autoscalingFamilies, healthFamilies } from "./exporter-families.js";
import type { AutoscalingSnapshot, MetricsCollector } from "./metrics-collector.js";
import type { ExporterReply, ReadWhat } from "./thread-protocol.js";

export interface AnswerDeps {
  collector: MetricsCollector;
  sampler: BufferSampler;
  conn: ExporterConnection;
  deadlineMs: number;
  /** The collection cache TTL, to tell readers how long an answer stays current. */
  ttlMs: number;
}

export type Answer = (what: ReadWhat) => Promise<ExporterReply>;

export function exporterAnswers(deps: AnswerDeps): Answer {
  const { collector, deadlineMs, ttlMs } = deps;
  // The six families stay the same until the next collection: built once per snapshot, so a
  // reader may also render them once per snapshot (by identity).
  let builtFor: AutoscalingSnapshot | null = null;
  let built: MetricFamily[] = [];
  const six = (s: AutoscalingSnapshot) => {
    if (builtFor !== s) {
      built = autoscalingFamilies(s);
      builtFor = s;
    }
    return built;
  };

  const autoscaling = async (): Promise<ExporterReply> => {
    const read = await collector.autoscaling.get(deadlineMs);
    if (!read.value)
      return {
        status: 503,
        error: `no autoscaling metrics collected yet: ${read.error ?? "collection running"}`,
      };
    const ageMs = Date.now() - read.takenAt;
    return {
      status: 200,
      families: six(read.value),
      stale: read.stale,
      ageMs,
      freshForMs: read.stale ? 0 : Math.max(0, ttlMs - ageMs),
    };
  };

  const metrics = async (): Promise<ExporterReply> => {
    const [a, p] = await Promise.all([
      collector.autoscaling.get(deadlineMs),
      collector.postgres.get(deadlineMs),
    ]);
    const now = Date.now();
    const families = [
      ...(a.value ? six(a.value) : []),
      ...(p.value ?? []),
      ...healthFamilies({ ...deps, reads: { autoscaling: a, postgres: p }, now }),
    ].filter((f) => f.samples.length > 0);
    return {
      status: 200,
      families,
      stale: a.stale || p.stale,
      ageMs: now - Math.min(a.takenAt || now, p.takenAt || now),
      freshForMs: 0,
    };
  };

  return (what) => (what === "autoscaling" ? autoscaling() : metrics());
}
