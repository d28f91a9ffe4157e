// How the agent reads the metrics exporter (process on a Unix socket in PGDATA).
import type { Logger } from "pino";
import type { ExporterAccess } from "../compute/compute-api-impl.js";
import type { ComputeRuntime } from "../compute/compute-runtime.js";

export function createExporterAccess(_rt: ComputeRuntime, _log: Logger): ExporterAccess {
  return {
    metricsText: async () => null,
    samples: async () => [],
    merge: (own) => own,
  };
}
