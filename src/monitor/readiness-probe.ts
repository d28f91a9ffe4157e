// Readiness means Postgres answers: while the compute runs, a new connection runs `SELECT 1`
// every second, the way a client would reach it (a reused connection would keep answering while
// the postmaster is frozen and accepts nobody). `/ready` is 200 only while the last answer is
// younger than `--ready-max-age-s`; otherwise 503 with the reason. Liveness (`/healthz`) never
// comes here. Probing runs while someone asks for readiness: after PAUSE_AFTER_MS without a
// `/ready`, it pauses (an agent nobody probes - systemd, a Neon control plane reading /status -
// does not fork a Postgres backend every second); the next ask resumes it, and Postgres's last
// known answer then counts from that moment, so the verdict is as fresh as while probing.
import type { Logger } from "pino";
import { connect } from "../postgres/connection.js";

export interface ReadinessView {
  /** Postgres answered within the allowed age. */
  readonly answering: boolean;
  /** Why not, for the 503 body. */
  readonly reason: string | null;
}

export interface ReadinessProbeOptions {
  connstr: string;
  /** How old the last answer may be (ms). */
  maxAgeMs: number;
  /** Period between probes (default 1000 ms, at most a third of maxAgeMs). */
  intervalMs?: number;
  log: Logger;
  /** Pause probing after this long without a `view()` (default 30 s). */
  pauseAfterMs?: number;
}

const PAUSE_AFTER_MS = 30_000;

export class ReadinessProbe {
  #lastAnswerAt = 0;
  #lastError: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  #paused = false;
  #lastAskedAt = 0;
  readonly #intervalMs: number;
  readonly #timeoutMs: number;

  constructor(private readonly opts: ReadinessProbeOptions) {
    this.#intervalMs = opts.intervalMs ?? Math.max(100, Math.min(1000, Math.floor(opts.maxAgeMs / 3)));
    this.#timeoutMs = Math.max(500, opts.maxAgeMs);
  }

  /** Starts (paused until the first `view()`); Postgres counts as having answered just now (the start pipeline saw it). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    // Paused until the first ask: the start pipeline has just seen Postgres answer.
    this.#paused = true;
    this.#answered();
  }

  #schedule(delayMs: number): void {
    const tick = async () => {
      await this.check();
      if (!this.#running) return;
      if (Date.now() - this.#lastAskedAt > (this.opts.pauseAfterMs ?? PAUSE_AFTER_MS)) {
        this.#paused = true;
        this.#timer = null;
        return;
      }
      this.#timer = setTimeout(tick, this.#intervalMs);
    };
    this.#timer = setTimeout(tick, delayMs);
  }

  /** Whether probes are paused for want of anyone asking (tests, metrics). */
  get paused(): boolean {
    return this.#paused;
  }

  stop(): void {
    this.#running = false;
    this.#lastAnswerAt = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  view(now = Date.now()): ReadinessView {
    this.#lastAskedAt = now;
    if (this.#running && this.#paused) {
      // Resumed: the last answer (or failure) stands as of now; a probe follows at once.
      this.#paused = false;
      if (this.#lastError === null) this.#lastAnswerAt = now;
      this.#schedule(0);
    }
    const age = now - this.#lastAnswerAt;
    if (age <= this.opts.maxAgeMs) return { answering: true, reason: null };
    if (!this.#running) return { answering: false, reason: "Postgres is not being probed" };
    return {
      answering: false,
      reason: `Postgres has not answered a query for ${(age / 1000).toFixed(1)} s: ${this.#lastError}`,
    };
  }

  #answered(): void {
    this.#lastAnswerAt = Date.now();
    this.#lastError = null;
  }

  /** One probe: a fresh connection, `SELECT 1`, within the timeout. */
  async check(): Promise<void> {
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const attempt = (async () => {
      const client = await connect(
        { connstr: this.opts.connstr },
        { applicationName: "compute_ctl:readiness", connectTimeoutMs: this.#timeoutMs },
      );
      try {
        if (!timedOut) await client.query("SELECT 1");
      } finally {
        // Not awaited: a connection stuck in a frozen server must not keep the probe waiting.
        void client.end().catch(() => {});
      }
    })();
    attempt.catch(() => {});
    try {
      await Promise.race([
        attempt,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            timedOut = true;
            reject(new Error(`no answer within ${this.#timeoutMs} ms`));
          }, this.#timeoutMs);
        }),
      ]);
      const wasDown = this.#lastError !== null;
      this.#answered();
      if (wasDown) this.opts.log.info("Postgres answers queries again: ready");
    } catch (err) {
      const first = this.#lastError === null;
      this.#lastError = (err as Error).message;
      if (first)
        this.opts.log.warn({ error: this.#lastError }, "Postgres did not answer the readiness query");
    } finally {
      clearTimeout(timer);
    }
  }
}
