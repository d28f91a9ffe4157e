// The interface every data source implements: fill an empty data directory with a cluster
// (at an LSN where that applies). The pipeline picks the implementation from the spec's
// `source`; adding a source touches neither the state machine nor the API.
import type { Logger } from "pino";
import type { BeginProgress } from "../../compute/progress.js";
import type { PgBinaries } from "../../postgres/binaries.js";
import type { OsUser } from "../../postgres/os-user.js";
import type { ComputeSpec } from "../../spec/types.js";

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
}

export interface SourceResult {
  /** LSN the data is consistent at, when the source knows it. */
  readonly lsn: string | null;
  /** Lines the source needs in postgresql.conf (e.g. primary_conninfo), written before cluster.settings. */
  readonly confLines: readonly string[];
}

export interface DataSourceStep {
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
}
