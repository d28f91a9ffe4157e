// The postmaster as a child process of the agent: spawned as the Postgres OS user, its stderr
// forwarded into our log, readiness detected from postmaster.pid, stopped with the signal of the
// requested shutdown mode. The agent stays attached: `exited` settles when it is gone.
import { type ChildProcess, spawn } from "node:child_process";
import type { Logger } from "pino";
import type { PgBinaries } from "./binaries.js";
import { asUser, type OsUser } from "./os-user.js";
import { waitForReady } from "./readiness.js";
import { PostgresStderr } from "./stderr-log.js";

export interface PostmasterExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export type ShutdownMode = "smart" | "fast" | "immediate";
const SHUTDOWN_SIGNAL: Record<ShutdownMode, NodeJS.Signals> = {
  smart: "SIGTERM",
  fast: "SIGINT",
  immediate: "SIGQUIT",
};

export interface StartPostmasterOptions {
  pg: PgBinaries;
  pgdata: string;
  osUser: OsUser | null;
  log: Logger;
  env?: Record<string, string>;
  /** Extra command-line arguments (`-c name=value` overrides). */
  args?: readonly string[];
  readyTimeoutMs: number;
  /** Called right after spawn with the pid (e.g. to move it into a cgroup). */
  onSpawn?: (pid: number) => void;
}

export class Postmaster {
  readonly exited: Promise<PostmasterExit>;
  readonly stderr: PostgresStderr;
  #exit: PostmasterExit | null = null;

  private constructor(
    readonly child: ChildProcess,
    log: Logger,
  ) {
    if (!child.stderr) throw new Error("postmaster stderr is not piped");
    this.stderr = new PostgresStderr(child.stderr, log);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
      child.once("error", (err) => {
        log.error({ err }, "failed to spawn postgres");
        this.#exit = { code: 127, signal: null };
        resolve(this.#exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.#exit === null;
  }

  /** Spawns `postgres -D pgdata` and resolves once it accepts connections. */
  static async start(opts: StartPostmasterOptions): Promise<Postmaster> {
    const child = spawn(opts.pg.postgres, ["-D", opts.pgdata, ...(opts.args ?? [])], {
      ...asUser(opts.osUser),
      cwd: opts.pgdata,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "ignore", "pipe"],
      // Own process group: terminal signals reach the agent only (it forwards them), and leftovers
      // of a crashed postmaster can be killed as a group.
      detached: true,
    });
    const pm = new Postmaster(child, opts.log.child({ component: "postgres" }));
    if (child.pid) opts.onSpawn?.(child.pid);
    try {
      await waitForReady({
        pgdata: opts.pgdata,
        timeoutMs: opts.readyTimeoutMs,
        exited: pm.exited,
        describeExit: () => pm.describeFailure(),
      });
    } catch (err) {
      pm.signal("SIGQUIT");
      await pm.exited;
      await pm.stderr.done;
      throw new Error(pm.describeFailure(), { cause: err });
    }
    return pm;
  }

  describeFailure(): string {
    const e = this.#exit;
    const how =
      e === null
        ? "did not become ready"
        : e.signal
          ? `was killed by ${e.signal}`
          : `exited with code ${e.code}`;
    const text = this.stderr.errorSummary();
    return `Postgres ${how}${text ? `: ${text}` : ""}`;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** Requests shutdown in `mode` and waits for the postmaster to exit. */
  async stop(mode: ShutdownMode): Promise<PostmasterExit> {
    this.signal(SHUTDOWN_SIGNAL[mode]);
    return this.exited;
  }
}
