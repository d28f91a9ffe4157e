// An in-memory ComputeApi for API-layer tests: the real ComputeStateMachine and spec parser, with
// the Postgres work replaced by short waits. Configure and Terminate walk the same status
// transitions the agent does, so streams see real state changes in order.
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { ComputeApi, MetricSample, StatusView, TerminateResult } from "../../src/api/compute-api.js";
import { OperationError } from "../../src/errors/operation-error.js";
import type { LfcOffloadState, LfcPrewarmState } from "../../src/lfc/lfc-states.js";
import { parseConfigurationRequest, parseSpec } from "../../src/spec/parse.js";
import type { ComputeSpec } from "../../src/spec/types.js";
import { ComputeStateMachine, type StateSnapshot } from "../../src/state/state-machine.js";
import { displayStatus } from "../../src/state/status.js";

export interface FakeComputeApi extends ComputeApi {
  readonly machine: ComputeStateMachine;
  /** Subscriptions not yet released (WatchStatus/StreamMetrics must release theirs). */
  readonly activeSubscriptions: number;
  /** How many times metricsSamples() ran. */
  readonly collections: number;
  /** The last accepted spec, as the core received it. */
  readonly lastSpec: ComputeSpec | null;
}

/**
 * Holds the fake's Configure/Terminate steps until the test opens it, so a test can act while a
 * call is in flight without guessing how long the work takes.
 */
export class StepGate {
  #open = true;
  #waiters: (() => void)[] = [];
  close(): void {
    this.#open = false;
  }
  open(): void {
    this.#open = true;
    for (const w of this.#waiters.splice(0)) w();
  }
  pass(): Promise<void> {
    return this.#open ? Promise.resolve() : new Promise((r) => this.#waiters.push(r));
  }
}

export function createFakeComputeApi(opts: { stepMs?: number; gate?: StepGate } = {}): FakeComputeApi {
  const stepMs = opts.stepMs ?? 30;
  const step = async () => {
    await sleep(stepMs);
    await opts.gate?.pass();
  };
  const machine = new ComputeStateMachine();
  let spec: ComputeSpec | null = null;
  let subscriptions = 0;
  let collections = 0;
  let finalLsn: string | null = null;
  const timings: Record<string, number> = {};
  // LFC: a prewarm of 4 steps of stepMs, 100 pages each; an offload of one step.
  let prewarm: LfcPrewarmState = { status: "not_prewarmed" };
  let offload: LfcOffloadState = { status: "not_offloaded" };
  let cancel: AbortController | null = null;
  const lfcListeners = new Set<(p: LfcPrewarmState, o: LfcOffloadState) => void>();
  const setLfc = (p: LfcPrewarmState, o: LfcOffloadState) => {
    prewarm = p;
    offload = o;
    for (const l of lfcListeners) l(prewarm, offload);
  };

  const requireStatus = (...allowed: string[]) => {
    if (!allowed.includes(machine.status)) {
      throw new OperationError(
        "failed_precondition",
        `invalid compute status: ${displayStatus(machine.status)}`,
      );
    }
  };
  const status = (): StatusView => {
    const s = machine.snapshot;
    const json = spec?.json;
    return {
      start_time: s.startTime.toISOString(),
      status: s.status,
      last_active: null,
      error: s.error,
      tenant: json?.tenant_id ?? null,
      timeline: json?.timeline_id ?? null,
      ignored: [],
    };
  };

  return {
    machine,
    get activeSubscriptions() {
      return subscriptions;
    },
    get collections() {
      return collections;
    },
    get lastSpec() {
      return spec;
    },
    status,
    timings: () => ({ ...timings }),
    subscribe(listener: (s: StateSnapshot) => void) {
      subscriptions++;
      const unsubscribe = machine.subscribe((s) => listener(s));
      let released = false;
      return () => {
        if (released) return;
        released = true;
        subscriptions--;
        unsubscribe();
      };
    },
    async configure(body) {
      const parsed = parseConfigurationRequest(body);
      requireStatus("empty", "running");
      const started = performance.now();
      spec = parsed.spec;
      machine.transition("configuration_pending", { startTime: new Date() });
      await step();
      machine.transition("init");
      await step();
      timings.config_ms = Math.round(performance.now() - started);
      timings.total_startup_ms = timings.config_ms;
      machine.transition("running");
      return status();
    },
    async terminate(mode): Promise<TerminateResult> {
      if (machine.status === "terminated") return { lsn: finalLsn, alreadyTerminated: true };
      requireStatus("empty", "running");
      machine.transition(mode === "fast" ? "termination_pending_fast" : "termination_pending_immediate");
      await step();
      finalLsn = spec?.mode.kind === "primary" ? "0/16B5BA8" : null;
      machine.transition("terminated");
      return { lsn: finalLsn, alreadyTerminated: false };
    },
    async dbsAndRoles() {
      const json = spec?.json;
      return {
        roles: [{ name: "postgres" }, ...(json?.cluster.roles ?? [])].map((r) => ({
          name: r.name,
          options: null,
        })),
        databases: [{ name: "postgres", owner: "postgres" }, ...(json?.cluster.databases ?? [])].map((d) => ({
          name: d.name,
          owner: d.owner,
          options: null,
          restrict_conn: false,
          invalid: false,
        })),
      };
    },
    async metricsSamples(): Promise<MetricSample[]> {
      collections++;
      return [
        { name: "compute_ctl_up", labels: { status: displayStatus(machine.status) }, value: 1 },
        { name: "fake_collections_total", labels: {}, value: collections },
      ];
    },
    readiness: () => ({ ready: machine.status === "running", reason: null }),
    started: () => machine.status === "running",
    prometheusText: async () => `compute_ctl_up{status="${displayStatus(machine.status)}"} 1\n`,
    async setGrants() {
      throw new OperationError("internal", "grants are not part of the fake compute");
    },
    async installExtension() {
      throw new OperationError("internal", "extensions are not part of the fake compute");
    },
    async databaseSchema(database) {
      const known = ["postgres", ...(spec?.json.cluster.databases.map((d) => d.name) ?? [])];
      if (!known.includes(database)) throw new OperationError("not_found", "database does not exist");
      return Readable.from([`-- schema of ${database}\n`, "CREATE TABLE t (id int);\n"]);
    },
    async insights() {
      requireStatus("running");
      return {
        pg_stat_statements: [{ queryid: "42", query: "SELECT 1", calls: 3, mean_exec_time: 0.5 }],
        neonText:
          '{"pg_stat_statements": [{"queryid":42,"query":"SELECT 1","calls":3,"mean_exec_time":0.5}]}',
      };
    },
    async checkWritability() {
      requireStatus("running");
    },
    async promote(body) {
      const parsed = parseSpec((body as { spec: unknown }).spec, "$.spec");
      requireStatus("running");
      if (spec?.mode.kind !== "replica")
        throw new OperationError("failed_precondition", "compute is not a replica");
      spec = parsed;
      return { lsn_wait_time_ms: 1, pg_promote_time_ms: 2, reconfigure_time_ms: 3, lsn: "0/3000060" };
    },
    async info() {
      return {
        num_cpus: 2,
        memory_bytes: 1 << 30,
        pg_version: "15.0",
        agent_version: "test",
        uptime_s: 1,
        pg_binary: "/usr/lib/postgresql/15/bin/postgres",
        pg_binaries_source: "system",
      };
    },
    lfcPrewarmState: () => prewarm,
    lfcOffloadState: () => offload,
    lfcPrewarm(fromEndpoint) {
      if (fromEndpoint !== null && !/^[A-Za-z0-9_-]{1,128}$/.test(fromEndpoint))
        throw new OperationError("invalid_argument", "from_endpoint must match [A-Za-z0-9_-]{1,128}");
      requireStatus("running");
      if (prewarm.status === "prewarming")
        throw new OperationError("resource_exhausted", "Multiple requests for prewarm are not allowed");
      const abort = new AbortController();
      cancel = abort;
      setLfc({ status: "prewarming", total: 400, prewarmed: 0 }, offload);
      void (async () => {
        for (let n = 1; n <= 4; n++) {
          await step();
          if (abort.signal.aborted) return setLfc({ status: "cancelled" }, offload);
          setLfc({ status: "prewarming", total: 400, prewarmed: n * 100 }, offload);
        }
        setLfc(
          {
            status: "completed",
            total: 400,
            prewarmed: 400,
            skipped: 0,
            state_download_time_ms: 1,
            uncompress_time_ms: 1,
            prewarm_time_ms: 4 * stepMs,
          },
          offload,
        );
      })();
    },
    lfcCancelPrewarm: () => cancel?.abort(),
    lfcOffload() {
      requireStatus("running");
      if (offload.status === "offloading")
        throw new OperationError(
          "resource_exhausted",
          "Multiple requests for prewarm offload are not allowed",
        );
      setLfc(prewarm, { status: "offloading" });
      void step().then(() =>
        setLfc(prewarm, {
          status: "completed",
          state_query_time_ms: 1,
          compress_time_ms: 1,
          state_upload_time_ms: 1,
        }),
      );
    },
    subscribeLfc(listener) {
      subscriptions++;
      lfcListeners.add(listener);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        subscriptions--;
        lfcListeners.delete(listener);
      };
    },
    async downloadExtension() {
      throw new OperationError("failed_precondition", "remote storage is not configured");
    },
  };
}
