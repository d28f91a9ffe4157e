// The running compute's shared state: the state machine, the current spec, the postmaster
// handle and the phase timings. A plain record: the operations that change it live in their
// own modules (start-compute, configure-compute, terminate-compute, reconfigure-compute).
import type { Logger } from "pino";
import type { AgentOptions } from "../cli/options.js";
import type { LfcController } from "../lfc/lfc-controller.js";
import type { PgBinaries } from "../postgres/binaries.js";
import { parseConnstr } from "../postgres/connection.js";
import type { OsUser } from "../postgres/os-user.js";
import type { Postmaster } from "../postgres/postmaster.js";
import type { ReplicaPromoter } from "../postgres/replica-promoter.js";
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

export interface ActivityView {
  lastActive: Date | null;
}

export class ComputeRuntime {
  readonly state = new ComputeStateMachine(PROCESS_START);
  readonly timings = new PhaseTimings();
  readonly activity: ActivityView = { lastActive: null };
  #adopted: AdoptedSpec = { spec: null, ignored: [], sourceConfLines: [] };
  postmaster: Postmaster | null = null;
  source: SourceDriver | null = null;
  /** Remote extensions (`-r`); null when off. Set before the first start. */
  remoteExt: RemoteExtensions | null = null;
  /** Cache prewarm/offload (set when the API services start). */
  lfc: LfcController | null = null;
  /** Single-flight promotion of this compute (set on the first /promote). */
  promoter: ReplicaPromoter | null = null;
  /** The start pipeline while it runs (settles when it has ended, however). */
  starting: Promise<void> | null = null;
  /**
   * The TLS certificates in use, by listener (`grpc`, `external_http`: the --tls-cert pair;
   * `postgres`: compute_ctl_config.tls), for the expiry metric and SIGHUP.
   */
  readonly tlsCertificates = new Map<string, ReloadingCertificate>();
  /** LSN returned by /terminate (Neon: from the final sync-safekeepers); null on vanilla. */
  terminateLsn: string | null = null;
  /** Set when the agent should exit once the compute is done: "grace" keeps the API up a while. */
  exitRequest: { code: number; delay: "grace" | "soon" } | null = null;
  /** Aborted when the agent shuts down; threads through every long-running task. */
  readonly shutdown = new AbortController();
  /** pgbouncer and local_proxy, configured from each spec in the background. */
  readonly sidecars: SidecarConfigurator;
  #exitListeners = new Set<() => void>();

  constructor(
    readonly options: AgentOptions,
    readonly computeCtlConfig: ComputeCtlConfig,
    readonly pg: PgBinaries,
    readonly osUser: OsUser | null,
    readonly log: Logger,
    readonly sources: SourceFactories,
  ) {
    this.sidecars = new SidecarConfigurator(options, log.child({ component: "sidecars" }));
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

  /** The data source produced its postgresql.conf lines (the end of a start). */
  keepSourceConfLines(lines: readonly string[]): void {
    this.#adopted = { ...this.#adopted, sourceConfLines: lines };
  }

  requestExit(code: number, delay: "grace" | "soon"): void {
    if (this.exitRequest) return;
    this.exitRequest = { code, delay };
    for (const l of this.#exitListeners) l();
  }

  /** Resolves when some part of the agent asked the process to exit. */
  exitRequested(): Promise<{ code: number; delay: "grace" | "soon" }> {
    const req = this.exitRequest;
    if (req) return Promise.resolve(req);
    return new Promise((resolve) => {
      const l = () => {
        this.#exitListeners.delete(l);
        resolve(this.exitRequest as { code: number; delay: "grace" | "soon" });
      };
      this.#exitListeners.add(l);
    });
  }
}
