// The compute's cache prewarm and offload: one of each at a time (a second request while one
// runs is refused: 429 / RESOURCE_EXHAUSTED, as Neon), prewarm cancellable, autoprewarm once
// the compute runs, periodic offload every `offload_lfc_interval_seconds` (held back while a
// prewarm is running, failed or cancelled so an incomplete cache never overwrites a good state,
// as Neon). Owns the two states; listeners see every status change at once and progress at most
// every 250 ms; a prewarm logs its progress every second. The work itself is in lfc-operations.ts.
import type { Logger } from "pino";
import { errorText } from "../errors/error-text.js";
import * as load from "../loading/modules.js";
import type { ConnectionTarget } from "../postgres/connection.js";
import type { ComputeSpec } from "../spec/types.js";
import type { LfcOffloadState, LfcPrewarmState } from "./lfc-states.js";

/** How many prewarms and offloads started and failed (read by the agent's metrics at scrape time). */
export interface LfcCounts {
  prewarms: number;
  prewarmErrors: number;
  offloads: number;
  offloadErrors: number;
}

export interface LfcControllerDeps {
  target: ConnectionTarget;
  spec(): ComputeSpec | null;
  log: Logger;
  /** The agent's shutdown: cancels a prewarm and an offload in flight. */
  shutdown: AbortSignal;
}

export type LfcListener = (prewarm: LfcPrewarmState, offload: LfcOffloadState) => void;

const PROGRESS_EMIT_MS = 250;
const PROGRESS_LOG_MS = 1000;

const errorMessage = (err: unknown) => errorText(err, 3);

export class LfcController {
  #prewarm: LfcPrewarmState = { status: "not_prewarmed" };
  #offload: LfcOffloadState = { status: "not_offloaded" };
  #prewarmAbort: AbortController | null = null;
  #prewarmDone: Promise<void> = Promise.resolve();
  #offloadDone: Promise<void> = Promise.resolve();
  #listeners = new Set<LfcListener>();
  #lastEmit = 0;
  #emitTimer: NodeJS.Timeout | null = null;
  #periodic: NodeJS.Timeout | null = null;
  #autoprewarmed = false;
  #stopped = false;
  readonly #counts: LfcCounts = { prewarms: 0, prewarmErrors: 0, offloads: 0, offloadErrors: 0 };
  readonly #log: Logger;

  constructor(private readonly deps: LfcControllerDeps) {
    this.#log = deps.log.child({ component: "lfc" });
    deps.shutdown.addEventListener("abort", () => this.stop(), { once: true });
  }

  get prewarmState(): LfcPrewarmState {
    return this.#prewarm;
  }

  get offloadState(): LfcOffloadState {
    return this.#offload;
  }

  counts(): Readonly<LfcCounts> {
    return { ...this.#counts };
  }

  subscribe(listener: LfcListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * True while a prewarm runs, or autoprewarm is asked for and has not started yet: promoting
   * now would serve the new primary's first queries from a cold cache.
   */
  prewarmPending(): boolean {
    if (this.#prewarm.status === "prewarming") return true;
    return this.#prewarm.status === "not_prewarmed" && this.deps.spec()?.json.autoprewarm === true;
  }

  /** Starts a prewarm in the background; false when one is running already. */
  prewarm(fromEndpoint: string | null = null): boolean {
    if (this.#prewarm.status === "prewarming") return false;
    const abort = new AbortController();
    this.#prewarmAbort = abort;
    this.#counts.prewarms++;
    this.#setPrewarm({ status: "prewarming", total: 0, prewarmed: 0 });
    const t0 = performance.now();
    const logTimer = setInterval(() => {
      const s = this.#prewarm;
      if (s.status === "prewarming")
        this.#log.info(
          { pages_loaded: s.prewarmed, pages_total: s.total, elapsed_ms: Math.round(performance.now() - t0) },
          "prewarm progress",
        );
    }, PROGRESS_LOG_MS);
    this.#prewarmDone = (async () => {
      let next: LfcPrewarmState;
      try {
        const spec = this.deps.spec();
        if (!spec) throw new Error("the compute has no spec");
        const { runPrewarm } = await load.lfcOperations();
        next = await runPrewarm(
          { spec: spec.json, target: this.deps.target, log: this.#log, signal: abort.signal },
          fromEndpoint,
          (prewarmed, total) => {
            if (this.#prewarm.status === "prewarming" && !abort.signal.aborted)
              this.#setPrewarm({ status: "prewarming", total, prewarmed }, true);
          },
        );
      } catch (err) {
        if (abort.signal.aborted) {
          next = { status: "cancelled" };
        } else {
          this.#counts.prewarmErrors++;
          next = { status: "failed", error: errorMessage(err) };
          this.#log.error({ error: next.error }, "could not prewarm LFC");
        }
      } finally {
        clearInterval(logTimer);
      }
      if (this.#prewarmAbort === abort) this.#prewarmAbort = null;
      this.#log.info({ ...next, duration_ms: Math.round(performance.now() - t0) }, `prewarm ${next.status}`);
      this.#setPrewarm(next);
    })();
    return true;
  }

  /** Cancels a running prewarm (a no-op otherwise); its state becomes `cancelled`. */
  cancelPrewarm(): void {
    this.#prewarmAbort?.abort(new Error("prewarm cancelled"));
  }

  /** Starts an offload in the background; false when one is running already. */
  offload(): boolean {
    if (this.#offload.status === "offloading") return false;
    this.#offloadDone = this.#runOffload();
    return true;
  }

  async #runOffload(): Promise<void> {
    this.#counts.offloads++;
    this.#setOffload({ status: "offloading" });
    let next: LfcOffloadState;
    try {
      const spec = this.deps.spec();
      if (!spec) throw new Error("the compute has no spec");
      const { runOffload } = await load.lfcOperations();
      next = await runOffload({
        spec: spec.json,
        target: this.deps.target,
        log: this.#log,
        signal: this.deps.shutdown,
      });
    } catch (err) {
      this.#counts.offloadErrors++;
      next = { status: "failed", error: errorMessage(err) };
      this.#log.error({ error: next.error }, "could not offload LFC");
    }
    this.#setOffload(next);
  }

  /** Resolves when the current (or last) prewarm and offload have finished. */
  async settled(): Promise<void> {
    await Promise.all([this.#prewarmDone, this.#offloadDone]);
  }

  /**
   * The compute (re)entered `running`: autoprewarm on the first time, and (re)arm the periodic
   * offload with the current spec's interval.
   */
  onRunning(): void {
    const spec = this.deps.spec();
    if (!spec) return;
    if (!this.#autoprewarmed && spec.json.autoprewarm) {
      this.#autoprewarmed = true;
      this.#log.info("autoprewarming on startup as requested");
      this.prewarm(null);
    }
    this.#armPeriodicOffload();
  }

  #armPeriodicOffload(): void {
    if (this.#periodic) clearTimeout(this.#periodic);
    this.#periodic = null;
    const seconds = this.deps.spec()?.json.offload_lfc_interval_seconds;
    if (!seconds || this.#stopped) return;
    this.#periodic = setTimeout(() => {
      this.#periodic = null;
      const s = this.#prewarm.status;
      let tick = Promise.resolve();
      if (s === "prewarming" || s === "failed" || s === "cancelled") {
        this.#log.info({ prewarm: s }, "periodic offload held back: the cache is not fully prewarmed");
      } else if (this.#offload.status !== "offloading") {
        tick = this.#runOffload();
        this.#offloadDone = tick;
      }
      void tick.then(() => {
        if (!this.#stopped) this.#armPeriodicOffload();
      });
    }, seconds * 1000);
    this.#periodic.unref();
  }

  /** Stops timers and cancels a prewarm (compute terminating or agent shutting down). */
  stop(): void {
    this.#stopped = true;
    if (this.#periodic) clearTimeout(this.#periodic);
    this.#periodic = null;
    this.cancelPrewarm();
  }

  #setPrewarm(next: LfcPrewarmState, progress = false): void {
    this.#prewarm = next;
    if (!progress) {
      this.#emit();
      return;
    }
    // Progress: at most every PROGRESS_EMIT_MS.
    if (this.#emitTimer) return;
    const wait = this.#lastEmit + PROGRESS_EMIT_MS - performance.now();
    if (wait <= 0) this.#emit();
    else
      this.#emitTimer = setTimeout(() => {
        this.#emitTimer = null;
        this.#emit();
      }, wait);
  }

  #setOffload(next: LfcOffloadState): void {
    this.#offload = next;
    this.#emit();
  }

  #emit(): void {
    if (this.#emitTimer) {
      clearTimeout(this.#emitTimer);
      this.#emitTimer = null;
    }
    this.#lastEmit = performance.now();
    for (const l of this.#listeners) {
      try {
        l(this.#prewarm, this.#offload);
      } catch (err) {
        this.#log.warn({ err }, "LFC state listener failed");
      }
    }
  }
}
