// The one place the compute's status lives. Everything else observes it: every change wakes
// every waiter and every listener; a transition not in the table is a programming error.
import { type ComputeStatus, canTransition } from "./status.js";

export interface StateSnapshot {
  readonly status: ComputeStatus;
  readonly error: string | null;
  /** When the current start began (agent start, or the moment a spec arrived through the API). */
  readonly startTime: Date;
  /** Monotonic counter, bumped on every change. */
  readonly version: number;
}

export type StateListener = (snapshot: StateSnapshot, previous: StateSnapshot) => void;

export class IllegalTransitionError extends Error {
  constructor(from: ComputeStatus, to: ComputeStatus) {
    super(`illegal compute status transition ${from} -> ${to}`);
  }
}

export class ComputeStateMachine {
  #snapshot: StateSnapshot;
  readonly #listeners = new Set<StateListener>();

  constructor(startTime = new Date()) {
    this.#snapshot = Object.freeze({ status: "empty", error: null, startTime, version: 0 });
  }

  get snapshot(): StateSnapshot {
    return this.#snapshot;
  }

  get status(): ComputeStatus {
    return this.#snapshot.status;
  }

  /** Moves to `to`; throws if the transition is not allowed. `failed` carries the error text. */
  transition(to: ComputeStatus, opts: { error?: string; startTime?: Date } = {}): void {
    const prev = this.#snapshot;
    if (!canTransition(prev.status, to)) throw new IllegalTransitionError(prev.status, to);
    this.#snapshot = Object.freeze({
      status: to,
      error: to === "failed" ? (opts.error ?? "unknown error") : null,
      startTime: opts.startTime ?? prev.startTime,
      version: prev.version + 1,
    });
    for (const l of this.#listeners) l(this.#snapshot, prev);
  }

  /** Like `transition` but returns false instead of throwing (for racing callers). */
  tryTransition(to: ComputeStatus, opts: { error?: string; startTime?: Date } = {}): boolean {
    if (!canTransition(this.status, to)) return false;
    this.transition(to, opts);
    return true;
  }

  subscribe(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves with the first snapshot (current or future) that satisfies `predicate`. */
  waitFor(predicate: (s: StateSnapshot) => boolean, signal?: AbortSignal): Promise<StateSnapshot> {
    if (predicate(this.#snapshot)) return Promise.resolve(this.#snapshot);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        unsubscribe();
        reject(signal?.reason ?? new Error("aborted"));
      };
      const unsubscribe = this.subscribe((s) => {
        if (!predicate(s)) return;
        unsubscribe();
        signal?.removeEventListener("abort", onAbort);
        resolve(s);
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
