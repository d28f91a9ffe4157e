// The messages between the agent's main thread (src/exporter-host/) and the exporter's thread.
// Metrics cross as families (plain data, structured clone), never as text to parse again.
import type { MetricFamily } from "../metrics/metric-family.js";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

/** What the agent asks: one of the exporter's two answers, a liveness ping, or to stop. */
export type HostMessage =
  | { kind: "read"; id: number; what: ReadWhat }
  | { kind: "ping"; id: number }
  | { kind: "stop" };

/** `autoscaling`: the six families of /autoscaling_metrics; `metrics`: everything of /metrics. */
export type ReadWhat = "autoscaling" | "metrics";

export type ExporterMessage =
  | { kind: "listening"; socketPath: string }
  | { kind: "log"; level: LogLevel; fields: Record<string, unknown>; msg: string }
  | { kind: "pong"; id: number }
  | { kind: "reply"; id: number; reply: ExporterReply };

/**
 * One answer of the exporter, as its socket serves it: 200 with families, or an error status
 * with its message (503 before the first autoscaling collection).
 */
export type ExporterReply =
  | {
      status: 200;
      families: MetricFamily[];
      /** Older than the TTL: the collection failed or missed the scrape deadline. */
      stale: boolean;
      /** Age of the values (for /metrics: of the older of the two collections). */
      ageMs: number;
      /** How much longer this exact answer would be served from the exporter's cache. */
      freshForMs: number;
    }
  | { status: 500 | 503; error: string };

/** The exporter thread's OS name, as `top -H`, `ps -L` and the idle bench see it ("node" otherwise). */
export const EXPORTER_THREAD_NAME = "cc-exporter";
