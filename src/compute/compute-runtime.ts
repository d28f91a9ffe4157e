// The running compute's shared state, in three parts that change at different times:
// - what lives as long as the agent (options, binaries, the services: remote extensions, cache
//   prewarm/offload, sidecars, the promoter): built by the constructor, before the runtime is
//   shared, and never reassigned;
// - what the compute took on (AdoptedSpec: the spec with its ignored fields and the source's
//   postgresql.conf lines) and what the current start brought up (ComputeRun: the data source,
//   the postmaster, the pipeline while it runs): each a record replaced as a whole, through one
//   method, by the operation that owns it (start, reconfigure, promote);
// - every status, the terminate LSN included, in the state machine.
// The operations that change it live in their own modules (start-compute, configure-compute,
// reconfigure-compute, promote-compute, terminate-compute).
import type { Logger } from "pino";
import type { AgentOptions } from "../cli/options.js";
import { LfcController } from "../lfc/lfc-controller.js";
import type { PgBinaries } from "../postgres/binaries.js";
import { parseConnstr } from "../postgres/connection.js";
import type { OsUser } from "../postgres/os-user.js";
import type { Postmaster } from "../postgres/postmaster.js";
import { ReplicaPromoter } from "../postgres/replica-promoter.js";
import type { RemoteExtensions } from "../remote-ext/remote-extensions.js";
import { SidecarConfigurator } from "../sidecars/configure-sidecars.js";
import type { IgnoredField } from "../spec/ignored-fields.js";
import type { SpecAgentContext } from "../spec/spec-rules.js";
import type { ComputeCtlConfig, ComputeSpec } from "../spec/types.js";
import type { SourceFactories } from "../startup/plan-startup.js";
import type { SourceDriver } from "../startup/sources/source-driver.js";
import { ComputeStateMachine } from "../state/state-machine.js";
import type { ReloadingCertificate } from "../tls/reloading-certificate.js";
import { PhaseTimings } from "./phase-timings.js";

/** Wall-clock time the agent process started (total_startup_ms counts from here). */
export const PROCESS_START = new Date(performance.timeOrigin);

/** What a spec may not delete or take over: the agent's superuser and the privileged role. */
export function specAgentContext(options: AgentOptions): SpecAgentContext {
  return { superuser: parseConnstr(options.connstr).user, privilegedRole: options.privilegedRoleName };
}

/** What the compute took on with its spec, kept together. */
export interface AdoptedSpec {
  readonly spec: ComputeSpec | null;
  readonly ignored: readonly IgnoredField[];
  readonly sourceConfLines: readonly string[];
}

/** One start of the compute and what it brought up; replaced as a whole, by the start only. */
export interface ComputeRun {
  /** The data source the start planned (its hooks run at shutdown and as the agent exits). */
  readonly source: SourceDriver;
  /** The postmaster, once the start_postgres step produced it; it outlives the pipeline. */
  readonly postmaster: Postmaster | null;
  /** The start pipeline while it runs (settles when it has ended, however); null once ended. */
  readonly starting: Promise<void> | null;
}

export type ExitRequest = { readonly code: number; readonly delay: "grace" | "soon" };

/** What the runtime is built from (run-agent.ts, the composition root). */
export type RuntimeDeps = Pick<
  ComputeRuntime,
  "options" | "computeCtlConfig" | "pg" | "osUser" | "log" | "sources"
> & {
  /** The agent's shutdown (remote extensions are built on it before the runtime). */
  readonly shutdown?: AbortController;
  /** Remote extensions (`-r`); null when off. */
  readonly remoteExt?: RemoteExtensions | null;
};

export interface ActivityView {
  lastActive: Date | null;
}

export class ComputeRuntime {
  readonly state = new ComputeStateMachine(PROCESS_START);
  readonly timings = new PhaseTimings();
  readonly activity: ActivityView = { lastActive: null };
  readonly options: AgentOptions;
  readonly computeCtlConfig: ComputeCtlConfig;
  readonly pg: PgBinaries;
  readonly osUser: OsUser | null;
  readonly log: Logger;
  readonly sources: SourceFactories;
  /** Aborted when the agent shuts down; threads through every long-running task. */
  readonly shutdown: AbortController;
  /** Remote extensions (`-r`); null when off. */
  readonly remoteExt: RemoteExtensions | null;
  /** pgbouncer and local_proxy, configured from each spec in the background. */
  readonly sidecars: SidecarConfigurator;
  /** Cache prewarm/offload (autoprewarm and the offload timer follow the status). */
  readonly lfc: LfcController;
  /** Single-flight promotion of this compute (/promote). */
  readonly promoter = new ReplicaPromoter();
  /**
   * The TLS certificates in use, by listener (`grpc`, `external_http`: the --tls-cert pair;
   * `postgres`: compute_ctl_config.tls), for the expiry metric and SIGHUP.
   */
  readonly tlsCertificates = new Map<string, ReloadingCertificate>();
  #adopted: AdoptedSpec = { spec: null, ignored: [], sourceConfLines: [] };
  #run: ComputeRun | null = null;
  #exitRequest: ExitRequest | null = null;
  readonly #exitListeners = new Set<() => void>();

  constructor(deps: RuntimeDeps) {
    this.options = deps.options;
    this.computeCtlConfig = deps.computeCtlConfig;
    this.pg = deps.pg;
    this.osUser = deps.osUser;
    this.log = deps.log;
    this.sources = deps.sources;
    this.shutdown = deps.shutdown ?? new AbortController();
    this.remoteExt = deps.remoteExt ?? null;
    this.sidecars = new SidecarConfigurator(deps.options, deps.log.child({ component: "sidecars" }));
    this.lfc = new LfcController({
      target: { connstr: deps.options.connstr },
      spec: () => this.spec,
      log: deps.log,
      shutdown: this.shutdown.signal,
    });
  }

  /** The compute's spec (null before the first). */
  get spec(): ComputeSpec | null {
    return this.#adopted.spec;
  }

  /** The current spec's fields that have no effect here (/status `ignored`). */
  get ignored(): readonly IgnoredField[] {
    return this.#adopted.ignored;
  }

  /** The data source's postgresql.conf lines, kept for rewrites of the file (reconfigure). */
  get sourceConfLines(): readonly string[] {
    return this.#adopted.sourceConfLines;
  }

  /**
   * The compute takes on a spec: with its ignored fields and the source's postgresql.conf
   * lines, assigned together (what is left out stays as it was).
   */
  adoptSpec(next: Partial<AdoptedSpec> & { readonly spec: ComputeSpec }): void {
    this.#adopted = { ...this.#adopted, ...next };
  }

  /** The current (or last) start; null before the first. */
  get run(): ComputeRun | null {
    return this.#run;
  }

  /** The data source of the current start. */
  get source(): SourceDriver | null {
    return this.#run?.source ?? null;
  }

  /** The postmaster of the current start, once spawned (it may have exited since). */
  get postmaster(): Postmaster | null {
    return this.#run?.postmaster ?? null;
  }

  /** The start pipeline while it runs. */
  get starting(): Promise<void> | null {
    return this.#run?.starting ?? null;
  }

  /** The start records what it brought up (start-compute.ts is the only caller). */
  attach(run: ComputeRun): void {
    this.#run = run;
  }

  /** Whether some part of the agent asked the process to exit. */
  get exitPending(): boolean {
    return this.#exitRequest !== null;
  }

  /** Asks the agent to exit once the compute is done ("grace" keeps the API up a while); the first ask wins. */
  requestExit(code: number, delay: "grace" | "soon"): void {
    if (this.#exitRequest) return;
    this.#exitRequest = { code, delay };
    for (const l of this.#exitListeners) l();
  }

  /** Resolves when some part of the agent asked the process to exit. */
  exitRequested(): Promise<ExitRequest> {
    const req = this.#exitRequest;
    if (req) return Promise.resolve(req);
    return new Promise((resolve) => {
      const l = () => {
        this.#exitListeners.delete(l);
        resolve(this.#exitRequest as ExitRequest);
      };
      this.#exitListeners.add(l);
    });
  }
}
