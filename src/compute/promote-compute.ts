// POST /promote and the Promote RPC: turn a running replica into a primary. Waits for the given
// replay LSN, pg_promote, checks it is writable (src/postgres/replica-promoter.ts, single-flight), then
// switches the spec's mode to the supplied primary spec: the config is rewritten without the
// replica's lines and the spec's roles/databases are applied, as on a live reconfiguration.

import { applySpecToPostgres } from "../apply/apply-spec-to-postgres.js";
import { OperationError } from "../errors/operation-error.js";
import * as load from "../loading/modules.js";
import { SpecError } from "../spec/spec-error.js";
import type { ComputeSpec } from "../spec/types.js";
import { type ComputeRuntime, specAgentContext } from "./compute-runtime.js";

export interface PromoteOutcome {
  status: "completed";
  lsn_wait_time_ms: number;
  pg_promote_time_ms: number;
  reconfigure_time_ms: number;
  lsn: string;
}

async function parsePromoteBody(
  rt: ComputeRuntime,
  body: unknown,
): Promise<{ spec: ComputeSpec; walFlushLsn: string | null }> {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new OperationError("unprocessable", "expected a JSON object {spec, wal_flush_lsn}");
  const b = body as { spec?: unknown; wal_flush_lsn?: unknown };
  if (b.wal_flush_lsn != null && typeof b.wal_flush_lsn !== "string") {
    throw new OperationError("unprocessable", "invalid request at $.wal_flush_lsn: expected an LSN string");
  }
  const { parseSpec } = await load.specParser();
  if (b.spec === undefined) throw new SpecError("$.spec", "required field is missing", "shape");
  return {
    spec: parseSpec(b.spec, "$.spec", specAgentContext(rt.options)),
    walFlushLsn: (b.wal_flush_lsn as string | undefined) ?? null,
  };
}

export async function promoteCompute(rt: ComputeRuntime, body: unknown): Promise<PromoteOutcome> {
  const { spec, walFlushLsn } = await parsePromoteBody(rt, body);
  const current = rt.spec;
  if (rt.state.status !== "running" || !current) {
    throw new OperationError("failed_precondition", `cannot promote in status ${rt.state.status}`);
  }
  if (rt.lfc.prewarmPending()) {
    const state = rt.lfc.prewarmState;
    throw new OperationError(
      "failed_precondition",
      `compute ${state.status === "prewarming" ? "Prewarming" : "NotPrewarmed"}: a cache prewarm is pending (autoprewarm or POST /lfc/prewarm); promote once GET /lfc/prewarm is no longer prewarming`,
    );
  }
  if (spec.mode.kind !== "primary") {
    throw new OperationError("invalid_argument", "invalid spec at $.spec.mode: promote needs a Primary spec");
  }
  if (current.source.kind === "archive") {
    // A promoted archive replica would write without the stanza lease and without archiving:
    // a second history. The stanza gets a new primary by starting one (it takes the lease).
    throw new OperationError(
      "failed_precondition",
      "a replica of the archive source cannot be promoted: start a compute with mode Primary on the stanza",
    );
  }
  if (current.mode.kind !== "replica" && !rt.promoter.result()) {
    throw new OperationError("failed_precondition", `compute is a ${current.mode.kind}, not a replica`);
  }
  const res = await rt.promoter.promote({
    target: { connstr: rt.options.connstr },
    walFlushLsn,
    log: rt.log.child({ operation: "promote" }),
    signal: rt.shutdown.signal,
  });
  const t0 = performance.now();
  if (rt.spec?.mode.kind !== "primary") {
    const promoted: ComputeSpec = Object.freeze({ json: spec.json, mode: spec.mode, source: current.source });
    await applySpecToPostgres(rt, promoted, {
      // Postgres TLS stays as the start installed it (the certificate copies are followed).
      config: { sourceLines: [], ssl: rt.tlsCertificates.has("postgres") },
      concurrency: promoted.json.reconfigure_concurrency,
      applicationName: "compute_ctl:promote",
      log: rt.log.child({ operation: "promote" }),
    });
    // A primary's postgresql.conf has none of the replica source's lines.
    rt.adoptSpec({ spec: promoted, sourceConfLines: [] });
  }
  return {
    status: "completed",
    lsn_wait_time_ms: res.lsn_wait_time_ms,
    pg_promote_time_ms: res.pg_promote_time_ms,
    reconfigure_time_ms: Math.round(performance.now() - t0),
    lsn: res.lsn,
  };
}
