// What the start pipeline's steps are given (inputs derived from the spec and options, read
// only) and what they produce (returned by each step, handed to the later ones by runSteps).
import type { Logger } from "pino";
import type { AgentOptions } from "../cli/options.js";
import type { PgBinaries } from "../postgres/binaries.js";
import type { OsUser } from "../postgres/os-user.js";
import type { Postmaster } from "../postgres/postmaster.js";
import type { RemoteExtensions } from "../remote-ext/remote-extensions.js";
import type { ComputeSpec } from "../spec/types.js";
import type { BeginProgress } from "../state/progress.js";
import type { CertificateFiles, CertificatePair } from "../tls/certificate-pair.js";
import type { SourceDriver, SourceResult } from "./sources/source-driver.js";
import type { Step } from "./steps/step.js";

export interface StartupContext {
  readonly spec: ComputeSpec;
  readonly options: AgentOptions;
  readonly pg: PgBinaries;
  readonly osUser: OsUser | null;
  /** The start's log (bound to `operation: "start"`). */
  readonly log: Logger;
  /** The agent's log without the start's bindings, for output that outlives the start (Postgres's stderr). */
  readonly agentLog: Logger;
  readonly signal: AbortSignal;
  readonly source: SourceDriver;
  /** Remote extensions (`-r`), or null when off. */
  readonly remoteExtensions?: Pick<RemoteExtensions, "prepareStart"> | null;
  /** When the start must be done (ms since the epoch, --pg-init-timeout); null: no bound. */
  readonly deadline?: number | null;
  record(name: string, value: number): void;
  /** Starts reporting the progress of a long step (see SourceContext.progress). */
  progress: BeginProgress;
  /** Tells the agent what happened (what it does then is not the steps' business). */
  happened?(event: StartupEvent): void;
  /** Postgres's TLS files (compute_ctl_config.tls with tls_experimental); null: TLS off. */
  readonly postgresTlsFiles?: CertificateFiles | null;
}

/** What a start step reports as it happens. */
export type StartupEvent = "postgres_spawned";

/** What the start's steps produce, each returned by the step that makes it. */
export interface StartupProducts {
  /** fetch_data: the data source's result (its postgresql.conf lines, the LSN). */
  readonly sourceResult: SourceResult;
  /** postgres_tls: the certificate pair installed for Postgres (write_config turns `ssl` on). */
  readonly postgresTlsPair: CertificatePair;
  /** start_postgres: the running postmaster. */
  readonly postmaster: Postmaster;
}

export type StartupStep = Step<StartupContext, Partial<StartupProducts>>;
