// compute.v1.ComputeService: each method translates its request, calls the one core operation
// in ComputeApi and translates the result. Errors are translated by the translateErrors
// interceptor, so handlers simply throw.
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { type ComputeService, TerminateMode } from "../../../gen/compute/v1/compute_service_pb.js";
import type { ComputeState } from "../../../gen/compute/v1/status_pb.js";
import type { ComputeApi } from "../compute-api.js";
import { reusableAnswer } from "./fast-path/reusable-answer.js";
import { offloadStateToProto, prewarmStateToProto } from "./lfc-to-proto.js";
import { watchLfc } from "./lfc-watch.js";
import {
  DEFAULT_INTERVAL_MS,
  MAX_INTERVAL_MS,
  MIN_INTERVAL_MS,
  metricsSnapshots,
  sharedCollector,
} from "./metrics-stream.js";
import { configureBody, specToJson } from "./spec-to-json.js";
import { computeStateToProto, lastStateWhileUnchanged } from "./state-to-proto.js";
import { watchStates } from "./status-watch.js";

function metricsInterval(requested: number): number {
  const interval = requested === 0 ? DEFAULT_INTERVAL_MS : requested;
  if (interval < MIN_INTERVAL_MS || interval > MAX_INTERVAL_MS) {
    throw new ConnectError(
      `interval_ms must be between ${MIN_INTERVAL_MS} and ${MAX_INTERVAL_MS} (or 0 for ${DEFAULT_INTERVAL_MS}), got ${requested}`,
      Code.InvalidArgument,
    );
  }
  return interval;
}

// google.protobuf.Struct is a JsonObject in protobuf-es; the round trip turns Dates and the like
// into their JSON form and drops undefined.
const toStruct = (row: Record<string, unknown>) => JSON.parse(JSON.stringify(row)) as JsonObject;

export function computeServiceImpl(api: ComputeApi): ServiceImpl<typeof ComputeService> {
  const collect = sharedCollector(() => api.metricsSamples());
  const currentState = lastStateWhileUnchanged();
  // The same answer object while the state is unchanged: the fast path encodes it once.
  let statusAnswer: { state: ComputeState } | undefined;

  return {
    async configure(req) {
      const view = await api.configure(configureBody(req.spec));
      return { state: computeStateToProto(view, api.timings()) };
    },

    status() {
      const state = currentState(api.status(), api.timings());
      if (statusAnswer?.state !== state) statusAnswer = reusableAnswer({ state });
      return statusAnswer;
    },

    async *watchStatus(_req, ctx) {
      for await (const state of watchStates(api, ctx.signal)) yield { state };
    },

    async terminate(req) {
      const result = await api.terminate(req.mode === TerminateMode.IMMEDIATE ? "immediate" : "fast");
      return { lsn: result.lsn ?? undefined, alreadyTerminated: result.alreadyTerminated };
    },

    async *streamMetrics(req, ctx) {
      const interval = metricsInterval(req.intervalMs);
      for await (const snapshot of metricsSnapshots(api, collect, interval, ctx.signal)) yield { snapshot };
    },

    async listDatabasesAndRoles() {
      const { roles, databases } = await api.dbsAndRoles();
      return {
        roles: roles.map((r) => ({ name: r.name })),
        databases: databases.map((d) => ({
          name: d.name,
          owner: d.owner,
          restrictConn: d.restrict_conn,
          invalid: d.invalid,
        })),
      };
    },

    async checkWritability() {
      await api.checkWritability();
      return {};
    },

    async promote(req) {
      if (!req.spec) throw new ConnectError("spec is required", Code.InvalidArgument);
      const result = await api.promote({ spec: specToJson(req.spec), wal_flush_lsn: req.walFlushLsn });
      return {
        lsnWaitTimeMs: result.lsn_wait_time_ms,
        pgPromoteTimeMs: result.pg_promote_time_ms,
        reconfigureTimeMs: result.reconfigure_time_ms,
        lsn: result.lsn,
      };
    },

    async *getDatabaseSchema(req, ctx) {
      const dump = await api.databaseSchema(req.database, ctx.signal);
      try {
        for await (const chunk of dump)
          yield { chunk: typeof chunk === "string" ? Buffer.from(chunk) : chunk };
      } finally {
        dump.destroy();
      }
    },

    async getInsights() {
      const insights = await api.insights();
      return { statements: insights.pg_stat_statements.map(toStruct), reason: insights.reason };
    },

    async getInfo() {
      const info = await api.info();
      return {
        numCpus: info.num_cpus,
        memoryBytes: BigInt(Math.trunc(info.memory_bytes)),
        pgVersion: info.pg_version,
        agentVersion: info.agent_version,
        uptimeSeconds: info.uptime_s,
        pgBinary: info.pg_binary,
        pgBinariesSource: info.pg_binaries_source,
      };
    },

    getLfcPrewarmState() {
      return { state: prewarmStateToProto(api.lfcPrewarmState()) };
    },

    prewarmLfc(req) {
      api.lfcPrewarm(req.fromEndpoint ?? null);
      return {};
    },

    cancelLfcPrewarm() {
      api.lfcCancelPrewarm();
      return {};
    },

    getLfcOffloadState() {
      return { state: offloadStateToProto(api.lfcOffloadState()) };
    },

    offloadLfc() {
      api.lfcOffload();
      return {};
    },

    async *watchLfc(_req, ctx) {
      yield* watchLfc(api, ctx.signal);
    },
  };
}
