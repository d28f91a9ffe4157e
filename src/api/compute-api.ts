// What the API layers (REST, gRPC) may ask of the compute. Each operation is implemented once,
// in the core (src/compute); handlers only translate requests and errors (OperationError).

import type { Readable } from "node:stream";
import type { ComputeInfo } from "../diagnostics/compute-info.js";
import type { InsightsResult } from "../diagnostics/insights.js";
import type { LfcOffloadState, LfcPrewarmState } from "../lfc/lfc-states.js";
import type { IgnoredField } from "../spec/ignored-fields.js";
import type { ProgressView } from "../state/progress.js";
import type { StateSnapshot, SubscribeOptions } from "../state/state-machine.js";
import type { ComputeStatus } from "../state/status.js";

/** The `/status` document (Neon's ComputeStatusResponse). */
export interface StatusView {
  start_time: string;
  status: ComputeStatus;
  last_active: string | null;
  error: string | null;
  tenant: string | null;
  timeline: string | null;
  /** The long task running now (a base backup, a restore) and how far it is; absent when none. */
  progress?: ProgressView;
  /** Archive source only: whether WAL reaches the pgBackRest repository. */
  archive?: unknown;
  /** Spec fields accepted but not acted on, with the reason (not in Neon's document). */
  ignored: IgnoredField[];
}

export type TerminateMode = "fast" | "immediate";

export interface TerminateResult {
  lsn: string | null;
  /** True when the compute was already terminated (REST answers 201). */
  alreadyTerminated: boolean;
}

export interface RoleInfo {
  name: string;
  options: null;
}
export interface DatabaseInfo {
  name: string;
  owner: string;
  options: null;
  restrict_conn: boolean;
  invalid: boolean;
}

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Phase durations of a replica promotion (Neon's PromoteState `completed`). */
export interface PromoteResult {
  status?: "completed";
  lsn_wait_time_ms: number;
  pg_promote_time_ms: number;
  reconfigure_time_ms: number;
  /** pg_current_wal_lsn() right after promotion, if known. */
  lsn?: string;
}

export interface ComputeApi {
  status(): StatusView;
  /** Phase timings (`/metrics.json`): the same frozen object until one of them changes. */
  timings(): Readonly<Record<string, number>>;
  /** Calls `listener` on every state change (and progress change if asked); returns the unsubscribe function. */
  subscribe(listener: (s: StateSnapshot) => void, opts?: SubscribeOptions): () => void;
  /** Body as received (`{spec, compute_ctl_config}`); resolves when running, throws OperationError. */
  configure(body: unknown): Promise<StatusView>;
  terminate(mode: TerminateMode): Promise<TerminateResult>;
  dbsAndRoles(): Promise<{ roles: RoleInfo[]; databases: DatabaseInfo[] }>;
  /** The current metrics samples (autoscaling + Postgres set) from the exporter's collector. */
  metricsSamples(): Promise<MetricSample[]>;
  /**
   * `/ready`: the compute is running (or reconfiguring live) and Postgres answered a query within
   * `--ready-max-age-s`; `reason` says why not.
   */
  readiness(): { ready: boolean; reason: string | null };
  /** Postgres has been started, even if still recovering (`/startupz`). */
  started(): boolean;
  /** Prometheus text: the agent's families followed by the exporter's. */
  prometheusText(): Promise<string>;
  /** POST /grants: grants the missing schema privileges; returns the request echo. */
  setGrants(body: unknown): Promise<unknown>;
  /** POST /extensions: creates or updates an extension at a version. */
  installExtension(body: unknown): Promise<{ extension: string; version: string }>;
  /**
   * GET /database_schema: a schema-only dump of `database`, resolved once output has started
   * (not_found `database does not exist` before that); aborting `signal` or destroying the
   * stream kills the dump.
   */
  databaseSchema(database: string, signal?: AbortSignal): Promise<Readable>;
  /** GET /insights: top statements of pg_stat_statements (failed_precondition unless running). */
  insights(): Promise<InsightsResult>;
  /** POST /check_writability: writes a row (failed_precondition unless running). */
  checkWritability(): Promise<void>;
  /** GET /info: CPUs, memory, versions, uptime. */
  info(): Promise<ComputeInfo>;
  /** POST /promote: body `{spec, wal_flush_lsn}`; turns a running replica into a primary (single-flight). */
  promote(body: unknown): Promise<PromoteResult>;
  /** GET /lfc/prewarm: the last cache prewarm's state. */
  lfcPrewarmState(): LfcPrewarmState;
  /** GET /lfc/offload: the last cache offload's state. */
  lfcOffloadState(): LfcOffloadState;
  /**
   * POST /lfc/prewarm: starts a prewarm (from `fromEndpoint`'s state if given) and returns;
   * resource_exhausted while one runs, invalid_argument for a bad endpoint id,
   * failed_precondition unless running.
   */
  lfcPrewarm(fromEndpoint: string | null): void;
  /** DELETE /lfc/prewarm: cancels a running prewarm (no-op otherwise). */
  lfcCancelPrewarm(): void;
  /** POST /lfc/offload: starts an offload; resource_exhausted while one runs. */
  lfcOffload(): void;
  /** Calls `listener` on every LFC state change (progress at most every 250 ms). */
  subscribeLfc(listener: (prewarm: LfcPrewarmState, offload: LfcOffloadState) => void): () => void;
  /**
   * POST /extension_server/{filename}: downloads and installs the remote extension that provides
   * `filename` (a library file when `isLibrary`). failed_precondition without `-r`, conflict
   * without remote_extensions in the spec, not_found for an unknown or disallowed name, internal
   * when the download or the unpacking fails.
   */
  downloadExtension(filename: string, isLibrary: boolean): Promise<void>;
}
