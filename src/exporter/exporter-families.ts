// What the two routes expose, as metric families: the six autoscaling families under Neon's
// names (HELP texts say what is measured, which differs on vanilla Postgres), and the exporter's
// own health (up, collection duration, errors, staleness, source).

import type { MetricFamily } from "../metrics/metric-family.js";
import type { BufferSampler } from "./buffer-sampler.js";
import { WINDOW_SECONDS } from "./buffer-sampler.js";
import type { CacheRead } from "./coalescing-cache.js";
import type { ExporterConnection } from "./exporter-connection.js";
import type { AutoscalingSnapshot, MetricsCollector } from "./metrics-collector.js";

const HELP = {
  neon: {
    lfc_cache_size_limit: "LFC cache size limit in bytes",
    lfc_hits: "LFC cache hits",
    lfc_misses: "LFC cache misses",
    lfc_used: "LFC chunks used (chunk = 1MB)",
    lfc_writes: "LFC cache writes",
    lfc_approximate_working_set_size_windows: "Approximate working set size in pages of 8192 bytes",
  },
  vanilla: {
    lfc_cache_size_limit:
      "Size of shared_buffers in bytes (vanilla Postgres: shared buffers stand in for the LFC)",
    lfc_hits: "Shared buffer hits in pages, sum of pg_stat_database.blks_hit (vanilla Postgres)",
    lfc_misses:
      "Pages read into shared buffers from the kernel, sum of pg_stat_database.blks_read (vanilla Postgres)",
    lfc_used: "Occupied shared buffers in 1MB chunks, from pg_buffercache (vanilla Postgres)",
    lfc_writes:
      "Buffers allocated to load pages into shared buffers, pg_stat_bgwriter.buffers_alloc (vanilla Postgres)",
    lfc_approximate_working_set_size_windows:
      "Approximate number of distinct 8192-byte pages loaded into or referenced again in shared buffers within the window: sliding HyperLogLog over pg_buffercache samples (vanilla Postgres)",
  },
} as const;

export const AUTOSCALING_FAMILY_NAMES = Object.keys(HELP.neon) as (keyof typeof HELP.neon)[];

export function autoscalingFamilies(s: AutoscalingSnapshot): MetricFamily[] {
  const help = HELP[s.source];
  const v = s.values;
  const gauge = (name: keyof typeof help, value: number): MetricFamily => ({
    name,
    help: help[name],
    type: "gauge",
    samples: [{ value }],
  });
  return [
    gauge("lfc_cache_size_limit", v.cacheSizeLimitBytes),
    gauge("lfc_hits", v.hits),
    gauge("lfc_misses", v.misses),
    gauge("lfc_used", v.usedChunks),
    gauge("lfc_writes", v.writes),
    {
      name: "lfc_approximate_working_set_size_windows",
      help: help.lfc_approximate_working_set_size_windows,
      type: "gauge",
      samples: WINDOW_SECONDS.map((d, i) => ({
        labels: { duration_seconds: String(d) },
        value: v.windows[i] ?? 0,
      })),
    },
  ];
}

export interface HealthInputs {
  collector: MetricsCollector;
  sampler: BufferSampler;
  conn: ExporterConnection;
  /** The reads this response is built from, by collection name. */
  reads: Record<"autoscaling" | "postgres", CacheRead<unknown>>;
  now: number;
}

export function healthFamilies(h: HealthInputs): MetricFamily[] {
  const caches = { autoscaling: h.collector.autoscaling, postgres: h.collector.postgres } as const;
  const names = Object.keys(caches) as (keyof typeof caches)[];
  const errors: MetricFamily = {
    name: "compute_exporter_errors_total",
    help: "Collections that failed (connect, query, timeout) and scrapes answered from older values because the collection missed the deadline (deadline), by collection",
    type: "counter",
    samples: [],
  };
  for (const n of names) {
    for (const kind of ["connect", "query", "timeout", "deadline"]) {
      errors.samples.push({ labels: { collection: n, kind }, value: caches[n].stats.errors.get(kind) ?? 0 });
    }
  }
  errors.samples.push({ labels: { collection: "wss_sample", kind: "sample" }, value: h.sampler.errors });
  for (const [metric, count] of h.collector.metricErrors) {
    errors.samples.push({ labels: { collection: `postgres:${metric}`, kind: "query" }, value: count });
  }
  const per = (fn: (n: (typeof names)[number]) => number) =>
    names.map((n) => ({ labels: { collection: n }, value: fn(n) }));
  const source = h.collector.source;
  return [
    {
      name: "compute_exporter_up",
      help: "1 when the latest collection of the autoscaling set reached Postgres, 0 when it failed or is overdue",
      type: "gauge",
      samples: [{ value: h.reads.autoscaling.stale ? 0 : 1 }],
    },
    {
      name: "compute_exporter_scrape_duration_seconds",
      help: "Duration of the latest completed collection from Postgres, by collection",
      type: "gauge",
      samples: per((n) => caches[n].stats.lastDurationMs / 1000),
    },
    {
      name: "compute_exporter_collections_total",
      help: "Collections from Postgres started by scrapes (each serves every scrape that arrives while it runs), by collection",
      type: "counter",
      samples: per((n) => caches[n].stats.collections),
    },
    errors,
    {
      name: "compute_exporter_stale",
      help: "1 when this response carries values older than the cache TTL because the collection failed or missed the deadline",
      type: "gauge",
      samples: per((n) => (h.reads[n].stale ? 1 : 0)),
    },
    {
      name: "compute_exporter_data_age_seconds",
      help: "Age of the values in this response (-1 when nothing has been collected yet), by collection",
      type: "gauge",
      samples: per((n) => (h.reads[n].takenAt ? (h.now - h.reads[n].takenAt) / 1000 : -1)),
    },
    {
      name: "compute_exporter_source",
      help: "Where the autoscaling set comes from: neon (LFC objects of the neon extension) or vanilla (shared buffers)",
      type: "gauge",
      samples: source ? [{ labels: { source }, value: 1 }] : [],
    },
    {
      name: "compute_exporter_wss_sample_age_seconds",
      help: "Age of the latest pg_buffercache sample feeding the working-set estimator (-1 before the first)",
      type: "gauge",
      samples: [{ value: h.sampler.lastSampleAt ? (h.now - h.sampler.lastSampleAt) / 1000 : -1 }],
    },
    {
      name: "compute_exporter_wss_samples_total",
      help: "pg_buffercache samples taken for the working-set estimator, periodic and on demand of a scrape",
      type: "counter",
      samples: [{ value: h.sampler.samplesTaken }],
    },
    {
      name: "compute_exporter_wss_sample_period_seconds",
      help: "Current period of the periodic pg_buffercache samples: the base period while pages move, up to the quiet period while samples find nothing new",
      type: "gauge",
      samples: [{ value: h.sampler.currentPeriodMs / 1000 }],
    },
    {
      name: "compute_exporter_postgres_connects_total",
      help: "Connections the exporter opened to Postgres (one is kept open; more mean reconnects)",
      type: "counter",
      samples: [{ value: h.conn.connects }],
    },
    {
      name: "compute_exporter_postgres_connect_attempts_total",
      help: "Connection attempts to Postgres, successful or not (bounded by a backoff while Postgres is unreachable)",
      type: "counter",
      samples: [{ value: h.conn.connectAttempts }],
    },
  ];
}
