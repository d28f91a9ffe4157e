// The postmaster as a child process of the agent: spawned as the Postgres OS user, its stderr
// forwarded into our log, readiness detected from postmaster.pid, stopped along one shutdown
// ladder (fast -> immediate -> kill). The agent stays attached: `exited` settles when it is gone.
import { type ChildProcess, spawn } from "node:child_process";
import type { Logger } from "pino";
import type { PgBinaries } from "./binaries.js";
import { childPids } from "./child-pids.js";
import { asUser, type OsUser } from "./os-user.js";
import { waitForReady } from "./readiness.js";
import { PostgresStderr } from "./stderr-log.js";

export interface PostmasterExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The rungs of the shutdown ladder, gentlest first. */
const RUNGS = ["fast", "immediate", "kill"] as const;
export type ShutdownRung = (typeof RUNGS)[number];
const RUNG_SIGNAL: Record<ShutdownRung, NodeJS.Signals> = {
  fast: "SIGINT",
  immediate: "SIGQUIT",
  kill: "SIGKILL",
};

export interface ShutdownOutcome {
  /** How the postmaster ended; null when it outlived even the kill rung. */
  readonly exit: PostmasterExit | null;
  /** The rung it ended on (only `fast` means a shutdown checkpoint was written). */
  readonly rung: ShutdownRung;
}

function killGroupOf(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, "SIGKILL");
      return;
    } catch {
      // not a group leader, or gone already
    }
  }
}

export interface StartPostmasterOptions {
  pg: PgBinaries;
  pgdata: string;
  osUser: OsUser | null;
  log: Logger;
  env?: Record<string, string>;
  /** Extra command-line arguments (`-c name=value` overrides). */
  args?: readonly string[];
  readyTimeoutMs: number;
  /** Seconds each rung of the shutdown ladder waits before the next (--shutdown-escalation-s). */
  shutdownRungS: number;
  /** Called right after spawn with the pid (e.g. to move it into a cgroup). */
  onSpawn?: (pid: number) => void;
}

export class Postmaster {
  readonly exited: Promise<PostmasterExit>;
  readonly stderr: PostgresStderr;
  #exit: PostmasterExit | null = null;
  #shutdown: Promise<ShutdownOutcome> | null = null;

  private constructor(
    readonly child: ChildProcess,
    /** The agent's log, for the shutdown ladder's rungs. */
    private readonly log: Logger,
    private readonly shutdownRungS: number,
  ) {
    if (!child.stderr) throw new Error("postmaster stderr is not piped");
    this.stderr = new PostgresStderr(child.stderr, log.child({ component: "postgres" }));
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
    const pm = new Postmaster(child, opts.log, opts.shutdownRungS);
    if (child.pid) opts.onSpawn?.(child.pid);
    try {
      await waitForReady({
        pgdata: opts.pgdata,
        timeoutMs: opts.readyTimeoutMs,
        exited: pm.exited,
        describeExit: () => pm.describeFailure(),
      });
    } catch (err) {
      const { exit } = await pm.shutdown("immediate");
      if (exit) await pm.stderr.done;
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

  /**
   * SIGKILL to the postmaster's process group and to each of its children's (Postgres makes every
   * child the leader of its own group): nothing of this Postgres is left running. Children are
   * found before the postmaster dies (afterwards they belong to init).
   */
  kill(): void {
    const children = childPids(this.pid);
    killGroupOf(this.pid);
    for (const child of children) killGroupOf(child);
  }

  /**
   * The shutdown ladder, from `from`: fast (SIGINT: a shutdown checkpoint is written), then
   * immediate (SIGQUIT), then kill (SIGKILL, see kill()): each rung waits `shutdownRungS` for the
   * postmaster to exit before the next is tried, and is logged. A Postgres that ignores SIGINT
   * and SIGQUIT (a hung child, a postmaster stuck in uninterruptible sleep) still ends. After the
   * kill rung's wait it gives up (exit null): nothing more can be done from here. One ladder per
   * postmaster: a later call shares the first's (which reaches every rung a later one would).
   */
  shutdown(from: "fast" | "immediate"): Promise<ShutdownOutcome> {
    this.#shutdown ??= this.#climb(from);
    return this.#shutdown;
  }

  async #climb(from: "fast" | "immediate"): Promise<ShutdownOutcome> {
    const rungS = this.shutdownRungS;
    if (this.#exit) return { exit: this.#exit, rung: from };
    for (let i = RUNGS.indexOf(from); i < RUNGS.length; i++) {
      const rung = RUNGS[i];
      const signal = RUNG_SIGNAL[rung];
      if (rung === from) {
        this.log.info({ rung, signal }, `shutting Postgres down: ${rung} (${signal})`);
      } else {
        const what = rung === "kill" ? "to every Postgres process" : "(immediate shutdown)";
        this.log.warn(
          { rung, signal, after_s: rungS },
          `${RUNGS[i - 1]} shutdown did not finish in time; sending ${signal} ${what}`,
        );
      }
      if (rung === "kill") this.kill();
      else this.signal(signal);
      const exit = await this.#exitWithin(rungS * 1000);
      if (exit) return { exit, rung };
    }
    this.log.error(
      { pid: this.pid, after_s: rungS },
      "Postgres did not exit even after SIGKILL; giving up on it",
    );
    return { exit: null, rung: "kill" };
  }

  /** The exit, or null if the postmaster is still there after `ms`. */
  async #exitWithin(ms: number): Promise<PostmasterExit | null> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), ms);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
