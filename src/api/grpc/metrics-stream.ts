// StreamMetrics as an async iterable: a snapshot at once, then one per interval on a fixed grid
// (a slow collection skips slots rather than drifting), until the compute terminates (a normal
// end) or `signal` aborts (the abort reason is thrown). Concurrent streams share one collection in flight instead of each querying.
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { type MetricsSnapshot, MetricsSnapshotSchema } from "../../../gen/compute/v1/metrics_pb.js";
import type { ComputeApi, MetricSample } from "../compute-api.js";

export const MIN_INTERVAL_MS = 100;
export const MAX_INTERVAL_MS = 60_000;
export const DEFAULT_INTERVAL_MS = 1000;

/** Wraps `collect` so that callers arriving while a collection runs get its result. */
export function sharedCollector(collect: () => Promise<MetricSample[]>): () => Promise<MetricSample[]> {
  let inFlight: Promise<MetricSample[]> | null = null;
  return () => {
    inFlight ??= collect().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
}

export async function* metricsSnapshots(
  api: ComputeApi,
  collect: () => Promise<MetricSample[]>,
  intervalMs: number,
  signal: AbortSignal,
): AsyncGenerator<MetricsSnapshot> {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  const unsubscribe = api.subscribe((s) => {
    if (s.status === "terminated") stop.abort();
  });
  try {
    if (api.status().status === "terminated") return;
    const start = performance.now();
    for (let slot = 0; ; ) {
      const samples = await collect();
      if (stop.signal.aborted) break;
      yield create(MetricsSnapshotSchema, { time: timestampNow(), samples });
      slot = Math.max(slot + 1, Math.ceil((performance.now() - start) / intervalMs));
      try {
        await sleep(start + slot * intervalMs - performance.now(), undefined, { signal: stop.signal });
      } catch {
        break; // stopped
      }
    }
    // The compute terminated: a normal end. Otherwise the call was cancelled, timed out or the
    // server is shutting down, and the reason is the call's status.
    if (signal.aborted) throw signal.reason;
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
  }
}
