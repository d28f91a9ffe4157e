// The ComputeApi facade over the runtime: each method delegates to the one core operation; the
// REST and gRPC layers share it. Heavy modules (reconciler) load on first use.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { ComputeApi } from "../api/compute-api.js";
import { computeInfo } from "../diagnostics/compute-info.js";
import { OperationError } from "../errors/operation-error.js";
import { checkEndpointId } from "../lfc/storage-location.js";
import * as load from "../loading/modules.js";
import type { AgentMetrics } from "../metrics/agent-metrics.js";
import { flattenSamples, type MetricFamily, unionByName } from "../metrics/metric-family.js";
import { renderFamilies } from "../metrics/prometheus-text.js";
import type { ReadinessView } from "../monitor/readiness-probe.js";
import { displayStatus } from "../state/status.js";
import { type ComputeRuntime, PROCESS_START } from "./compute-runtime.js";
import { configureCompute } from "./configure-compute.js";
import { promoteCompute } from "./promote-compute.js";
import { isReady, statusView } from "./status-view.js";
import { terminateCompute } from "./terminate-compute.js";

/** The agent's side of the metrics exporter (src/exporter-host/). */
export interface ExporterAccess {
  /** The exporter's families (its /metrics); none when it is not running or does not answer. */
  families(): Promise<MetricFamily[]>;
  /** GET /autoscaling_metrics, answered from the exporter. */
  forward(req: IncomingMessage, res: ServerResponse, log: () => Logger): Promise<void>;
}

function requireRunning(rt: ComputeRuntime): void {
  if (rt.state.status !== "running") {
    throw new OperationError(
      "failed_precondition",
      `invalid compute status: ${displayStatus(rt.state.status)}`,
    );
  }
}

function unavailable(err: unknown): never {
  if (err instanceof OperationError) throw err;
  throw new OperationError("unavailable", `Postgres is unreachable: ${(err as Error).message}`, {
    cause: err,
  });
}

export function createComputeApi(
  rt: ComputeRuntime,
  metrics: AgentMetrics,
  exporter: ExporterAccess,
  probe: { view(): ReadinessView },
): ComputeApi {
  const target = () => ({ connstr: rt.options.connstr });
  return {
    status: () => statusView(rt),
    timings: () => rt.timings.toJSON(),
    subscribe: (listener, opts) => rt.state.subscribe((s) => listener(s), opts),
    configure: (body) => configureCompute(rt, body),
    terminate: (mode) => terminateCompute(rt, mode),
    readiness() {
      if (!isReady(rt)) return { ready: false, reason: `the compute is ${displayStatus(rt.state.status)}` };
      const { answering, reason } = probe.view();
      return { ready: answering, reason };
    },
    started: () => rt.postmaster?.running === true,
    async dbsAndRoles() {
      const { listDbsAndRoles } = await load.reconciler();
      return listDbsAndRoles(target()).catch(unavailable);
    },
    async setGrants(body) {
      requireRunning(rt);
      const { setSchemaGrants } = await load.reconciler();
      return setSchemaGrants(target(), body);
    },
    async installExtension(body) {
      requireRunning(rt);
      const { installExtension } = await load.reconciler();
      return installExtension(target(), body);
    },
    async databaseSchema(database, signal) {
      const { dumpDatabaseSchema } = await load.schemaDump();
      return dumpDatabaseSchema({ connstr: rt.options.connstr, pg: rt.pg, log: rt.log }, database, signal);
    },
    async insights() {
      requireRunning(rt);
      const { collectInsights } = await load.insights();
      return collectInsights(target()).catch(unavailable);
    },
    async checkWritability() {
      requireRunning(rt);
      const { checkWritability } = await load.writabilityCheck();
      return checkWritability(target(), rt.log);
    },
    info: () => computeInfo(rt.pg, PROCESS_START),
    promote: (body) => promoteCompute(rt, body),
    lfcPrewarmState: () => rt.lfc.prewarmState,
    lfcOffloadState: () => rt.lfc.offloadState,
    lfcPrewarm(fromEndpoint) {
      if (fromEndpoint !== null) {
        const problem = checkEndpointId(fromEndpoint);
        if (problem) throw new OperationError("invalid_argument", problem);
      }
      requireRunning(rt);
      if (!rt.lfc.prewarm(fromEndpoint))
        throw new OperationError("resource_exhausted", "Multiple requests for prewarm are not allowed");
    },
    lfcCancelPrewarm: () => rt.lfc.cancelPrewarm(),
    lfcOffload() {
      requireRunning(rt);
      if (!rt.lfc.offload())
        throw new OperationError(
          "resource_exhausted",
          "Multiple requests for prewarm offload are not allowed",
        );
    },
    subscribeLfc: (listener) => rt.lfc.subscribe(listener),
    async downloadExtension(filename, isLibrary) {
      if (!rt.remoteExt) throw new OperationError("failed_precondition", "remote storage is not configured");
      await rt.remoteExt.download(rt.spec?.json ?? null, filename, isLibrary);
    },
    metricsSamples: async () => flattenSamples(await exporter.families()),
    // The agent's families first; an exporter family of the same name is left out.
    prometheusText: async () => renderFamilies(unionByName(metrics.families(), await exporter.families())),
  };
}
