// SourceDriver: what implements one kind of the spec's data `source` (initdb, primary, neon,
// archive). Its main job is to fill an empty data directory with a cluster (at an LSN where that
// applies); optional hooks let it act at the other moments of the compute's life (after Postgres
// started, while it runs, around shutdown, as the agent exits). The start pipeline picks the
// driver from the spec's `source`; adding a source touches neither the state machine nor the API.
import type { Logger } from "pino";
import type { Registry } from "../../metrics/metric-registry.js";
import type { PgBinaries } from "../../postgres/binaries.js";
import type { OsUser } from "../../postgres/os-user.js";
import type { Postmaster } from "../../postgres/postmaster.js";
import type { ComputeSpec } from "../../spec/types.js";
import type { BeginProgress } from "../../state/progress.js";

export interface SourceContext {
  /** Empty directory, mode 0700, owned by `osUser` (or by us when osUser is null). */
  readonly pgdata: string;
  readonly spec: ComputeSpec;
  readonly pg: PgBinaries;
  /** Run Postgres tools as this user (null: as ourselves). */
  readonly osUser: OsUser | null;
  /** The `-C` superuser URL; with the initdb source its user becomes the bootstrap superuser. */
  readonly connstr: string;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Record a timing or counter under its Neon name (`basebackup_ms`, `basebackup_bytes`, ...). */
  record(name: string, value: number): void;
  /**
   * Starts reporting how far a long fetch is (bytes, files): it shows in /status, WatchStatus and
   * the log while it runs. Call `end()` when the fetch is over, failed or not.
   */
  progress: BeginProgress;
  /** The agent's private runtime directory (`--runtime-dir`): the archive source's pgBackRest files. */
  readonly runtimeDir: string;
  /** This compute's id (`--compute-id`), null when none was given. */
  readonly computeId: string | null;
}

/** What a source's background work while the compute runs may use. */
export interface RunningServices {
  /** The agent's Prometheus registry (families appear in `/metrics`). */
  readonly registry: Registry;
}

export interface SourceResult {
  /** LSN the data is consistent at, when the source knows it. */
  readonly lsn: string | null;
  /** Lines the source needs in postgresql.conf (e.g. primary_conninfo), written before cluster.settings. */
  readonly confLines: readonly string[];
}

export interface SourceDriver {
  /** Step name as it appears in logs and phase timings. */
  readonly name: string;
  /**
   * Starts work that does not need the data directory (e.g. finding and reading the template),
   * called as the pipeline starts so it overlaps emptying the data directory; `prepare` then
   * picks up its result. Optional, never throws (`prepare` reports the failure).
   */
  warmUp?(ctx: SourceContext): void;
  prepare(ctx: SourceContext): Promise<SourceResult>;
  /**
   * Called after Postgres stopped following a fast termination of a primary; returns the final
   * LSN reported by `/terminate` (Neon: the last `--sync-safekeepers`). Optional.
   */
  afterShutdown?(ctx: SourceContext): Promise<string | null>;
  /**
   * Called before Postgres is stopped by a fast termination: work that must finish while it
   * runs (archive: the first backup of a new stanza, without which it cannot be restored).
   */
  beforeShutdown?(ctx: SourceContext): Promise<void>;
  /**
   * Called once Postgres accepts connections, before the spec is applied: a source whose cluster
   * is still recovering finishes here (archive: replay to the end and promote). Optional.
   */
  afterStart?(ctx: SourceContext, postmaster: Postmaster): Promise<void>;
  /** Background work from `running` until termination (archive: backups, archiver monitor). */
  whileRunning?(ctx: SourceContext, services: RunningServices): Promise<{ stop(): Promise<void> } | null>;
  /** Fields the source adds to `/status` (archive: `archive` health), null when none. */
  status?(): Record<string, unknown> | null;
  /**
   * Called once as the agent exits, after Postgres stopped (or never started): releases what the
   * source holds outside the data directory (archive: the stanza lease). Never throws.
   */
  release?(ctx: SourceContext): Promise<void>;
}
