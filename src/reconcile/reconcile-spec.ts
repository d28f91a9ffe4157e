// Applies a spec's roles, databases and delta operations to the running Postgres: read the
// catalog snapshot, plan, run the phases in order. An unchanged spec plans nothing, so a
// re-apply costs one connection and the snapshot query. Failures name the object and change
// (`failed to create database "x": role "nobody" does not exist`); statements executed before
// the failure stay applied (a later apply starts from the new snapshot).
import type pg from "pg";
import type { Logger } from "pino";
import { type ConnectionTarget, connect, parseConnstr } from "../postgres/connection.js";
import { auditLibraries } from "../spec/audit-conf.js";
import type { ComputeSpecJson } from "../spec/types.js";
import { readCatalogSnapshot } from "./catalog-snapshot.js";
import { type Recorder, runBatch, runSequential, runStatement } from "./execute-statements.js";
import { planSpec } from "./plan-spec.js";
import type { PerDatabasePhase, PhaseName, SqlPhase } from "./plan-types.js";
import { runBounded } from "./run-bounded.js";
import { displayed, ReconcileError } from "./statement.js";

export interface ReconcileOptions {
  target: ConnectionTarget;
  spec: ComputeSpecJson;
  privilegedRole: string;
  /** Connections used at once for per-database work and CREATE DATABASE. */
  /** Per-database parallelism; "auto": a share of max_connections (at start), read on the first connection. */
  concurrency: number | "auto";
  log: Logger;
  applicationName?: string;
  /** drop_subscriptions_before_start in this apply (see plan-spec.ts), with the branch's key. */
  dropSubscriptions?: { key: string | null };
}

export interface PhaseReport {
  name: PhaseName;
  durationMs: number;
  statements: number;
}

export interface ReconcileReport {
  /** What was executed, in order of completion, passwords redacted. */
  statements: string[];
  durationMs: number;
  phases: PhaseReport[];
}

/** What the snapshot must include for the delta operations (only what they need, see snapshotSql). */
function snapshotNeeds(spec: ComputeSpecJson): { roleNames: string[]; subscriptions: boolean } {
  const deltas = spec.delta_operations ?? [];
  const names = new Set<string>();
  // A role's dependencies are found by oid, so also the names it had before a rename.
  if (deltas.some((op) => op.action === "delete_role")) {
    for (const op of deltas) {
      if (op.action !== "delete_role" && op.action !== "rename_role") continue;
      names.add(op.name);
      if (op.new_name) names.add(op.new_name);
    }
  }
  return { roleNames: [...names], subscriptions: deltas.some((op) => op.action === "delete_db") };
}

type Opener = (database?: string) => Promise<pg.Client>;

/** Ends a session without waiting for its backend to exit: the work is done, nobody needs to wait. */
function closeInBackground(client: pg.Client): void {
  client.end().catch(() => {});
}

async function openOrFail(open: Opener, database: string | undefined, label: string): Promise<pg.Client> {
  try {
    return await open(database);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    throw new ReconcileError("connect to database", label, null, e.code, e.message ?? String(err), {
      cause: err,
    });
  }
}

class Connections {
  private readonly extra = new Map<number, pg.Client>();
  constructor(
    readonly system: pg.Client,
    readonly systemDatabase: string,
    private readonly open: Opener,
  ) {}

  /** Slot 0 is the system connection; others are opened on first use and kept for the apply. */
  async forSlot(slot: number): Promise<pg.Client> {
    if (slot === 0) return this.system;
    let c = this.extra.get(slot);
    if (!c) {
      c = await openOrFail(this.open, undefined, this.systemDatabase);
      this.extra.set(slot, c);
    }
    return c;
  }

  openTo(database: string): Promise<pg.Client> {
    return openOrFail(this.open, database, database);
  }

  close(): void {
    for (const c of [this.system, ...this.extra.values()]) closeInBackground(c);
  }
}

/** A tenth of max_connections, between 1 and 16: leaves room for the users' own sessions. */
async function concurrencyFromMaxConnections(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>("SELECT current_setting('max_connections')::int AS n");
  return Math.max(1, Math.min(16, Math.floor(Number(rows[0].n) / 10)));
}

async function runSqlPhase(phase: SqlPhase, conns: Connections, concurrency: number, record: Recorder) {
  if (phase.mode === "batch") return runBatch(conns.system, phase.statements, null, record);
  if (phase.mode === "sequential") return runSequential(conns.system, phase.statements, null, record);
  await runBounded(phase.statements, concurrency, async (s, slot) =>
    runStatement(await conns.forSlot(slot), s, null, record),
  );
}

async function runPerDatabasePhase(
  phase: PerDatabasePhase,
  conns: Connections,
  concurrency: number,
  record: Recorder,
) {
  await runBounded(phase.tasks, concurrency, async (task) => {
    const own = task.database !== conns.systemDatabase;
    const client = own ? await conns.openTo(task.database) : conns.system;
    try {
      const where = own ? task.database : null;
      if (task.mode === "batch") await runBatch(client, task.statements, where, record);
      else await runSequential(client, task.statements, where, record);
    } finally {
      // Awaited: a database we leave may be copied next (template1), and CREATE DATABASE
      // refuses a template that still has sessions.
      if (own) await client.end().catch(() => {});
    }
  });
}

export async function reconcileSpec(opts: ReconcileOptions): Promise<ReconcileReport> {
  const started = performance.now();
  const report: ReconcileReport = { statements: [], durationMs: 0, phases: [] };
  const { spec, log } = opts;
  if (spec.skip_pg_catalog_updates || spec.mode !== "Primary") {
    log.info(
      { mode: spec.mode, skip_pg_catalog_updates: spec.skip_pg_catalog_updates },
      "spec apply skipped",
    );
    report.durationMs = performance.now() - started;
    return report;
  }
  const applicationName = opts.applicationName ?? "compute_ctl:apply_config";
  const open = (database?: string) => connect(opts.target, { applicationName, database });
  const system = await openOrFail(open, undefined, parseConnstr(opts.target.connstr).database);
  const concurrency =
    opts.concurrency === "auto"
      ? await concurrencyFromMaxConnections(system)
      : Math.max(1, Math.floor(opts.concurrency));
  let conns: Connections | null = null;
  try {
    const snapshot = await readCatalogSnapshot(system, {
      privilegedRole: opts.privilegedRole,
      ...snapshotNeeds(spec),
      dropSubscriptionsKey: opts.dropSubscriptions?.key,
      audit: auditLibraries(spec.audit_log_level).length > 0,
    });
    conns = new Connections(system, snapshot.systemDatabase, open);
    const plan = planSpec({
      spec,
      snapshot,
      privilegedRole: opts.privilegedRole,
      dropSubscriptions: opts.dropSubscriptions,
    });
    for (const w of plan.warnings ?? []) log.warn(w);
    const record: Recorder = (s, database) => {
      const text = displayed(s);
      report.statements.push(text);
      log.debug({ database: database ?? snapshot.systemDatabase, statement: text }, "spec apply statement");
    };
    for (const phase of plan.phases) {
      const t = performance.now();
      const before = report.statements.length;
      if (phase.kind === "sql") await runSqlPhase(phase, conns, concurrency, record);
      else await runPerDatabasePhase(phase, conns, concurrency, record);
      const done = {
        name: phase.name,
        durationMs: performance.now() - t,
        statements: report.statements.length - before,
      };
      report.phases.push(done);
      log.info(
        { phase: done.name, duration_ms: Math.round(done.durationMs), statements: done.statements },
        "spec apply phase done",
      );
    }
  } finally {
    if (conns) conns.close();
    else closeInBackground(system);
  }
  report.durationMs = performance.now() - started;
  log.info(
    { duration_ms: Math.round(report.durationMs), statements: report.statements.length },
    "spec applied",
  );
  return report;
}
