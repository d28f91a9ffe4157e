// The one place the compute's status lives. Everything else observes it: every change wakes
// every waiter and every listener; a transition not in the table is a programming error. A
// `configuration_pending`/`configuration` reached from `running` is a live reconfiguration
// (Postgres keeps serving, `/ready` stays 200), one reached from `empty` the start of an empty
// compute: the snapshot says which (`reconfiguring`), from the transitions alone.
// Besides the status it holds the progress of the long task running now (a base backup, a
// restore): producers report as often as they like, listeners that asked for progress hear of
// it at most every PROGRESS_PUBLISH_MS.
import type { Progress, ProgressReporter, ProgressUpdate } from "./progress.js";
import { type ComputeStatus, canTransition } from "./status.js";

/** How often at most a running task's progress reaches /status, WatchStatus and the log. */
export const PROGRESS_PUBLISH_MS = 250;

export interface StateSnapshot {
  readonly status: ComputeStatus;
  readonly error: string | null;
  /** When the current start began (agent start, or the moment a spec arrived through the API). */
  readonly startTime: Date;
  /** Monotonic counter, bumped on every change. */
  readonly version: number;
  /** The long task running now and how far it is; null when none. */
  readonly progress: Progress | null;
  /** The status is part of a live reconfiguration of a running compute (`running` ->
   * `configuration_pending` -> `configuration` -> `running`). */
  readonly reconfiguring: boolean;
  /** `terminated` only: the LSN of the final sync after a clean fast shutdown (Neon's
   * terminate_flush_lsn; what /terminate answers); null otherwise. */
  readonly terminateLsn: string | null;
}

export interface TransitionOptions {
  readonly error?: string;
  readonly startTime?: Date;
  readonly terminateLsn?: string | null;
}

export type StateListener = (snapshot: StateSnapshot, previous: StateSnapshot) => void;

export interface SubscribeOptions {
  /** Also hear of progress changes (the status is then often unchanged). Default: status only. */
  progress?: boolean;
}

export class IllegalTransitionError extends Error {
  constructor(from: ComputeStatus, to: ComputeStatus) {
    super(`illegal compute status transition ${from} -> ${to}`);
  }
}

export class ComputeStateMachine {
  #snapshot: StateSnapshot;
  readonly #listeners = new Set<StateListener>();
  readonly #progressListeners = new Set<StateListener>();
  /** The reporter of the task whose progress the snapshot shows. */
  #progressOwner: object | null = null;

  constructor(startTime = new Date()) {
    this.#snapshot = Object.freeze({
      status: "empty",
      error: null,
      startTime,
      version: 0,
      progress: null,
      reconfiguring: false,
      terminateLsn: null,
    });
  }

  get snapshot(): StateSnapshot {
    return this.#snapshot;
  }

  get status(): ComputeStatus {
    return this.#snapshot.status;
  }

  /**
   * Moves to `to`; throws if the transition is not allowed. `failed` carries the error text,
   * `terminated` the terminate LSN.
   */
  transition(to: ComputeStatus, opts: TransitionOptions = {}): void {
    const prev = this.#snapshot;
    if (!canTransition(prev.status, to)) throw new IllegalTransitionError(prev.status, to);
    this.#snapshot = Object.freeze({
      status: to,
      error: to === "failed" ? (opts.error ?? "unknown error") : null,
      startTime: opts.startTime ?? prev.startTime,
      version: prev.version + 1,
      progress: prev.progress,
      reconfiguring:
        (to === "configuration_pending" && prev.status === "running") ||
        (to === "configuration" && prev.reconfiguring),
      terminateLsn: to === "terminated" ? (opts.terminateLsn ?? null) : null,
    });
    for (const l of this.#listeners) l(this.#snapshot, prev);
    for (const l of this.#progressListeners) l(this.#snapshot, prev);
  }

  /**
   * Starts reporting the progress of `phase` (it replaces any earlier task's). The reporter is
   * cheap to call per chunk; the snapshot follows at most every `publishMs`, and at once on
   * start and end.
   */
  beginProgress(phase: string, publishMs = PROGRESS_PUBLISH_MS): ProgressReporter {
    const startedAt = new Date();
    const current = {
      bytesDone: 0,
      bytesTotal: null as number | null,
      filesDone: null as number | null,
      filesTotal: null as number | null,
    };
    let lastPublished = 0;
    let timer: NodeJS.Timeout | null = null;
    let ended = false;
    const owner = {};
    this.#progressOwner = owner;
    const publish = () => {
      if (timer) clearTimeout(timer);
      timer = null;
      if (ended || this.#progressOwner !== owner) return;
      lastPublished = performance.now();
      this.#setProgress({ phase, ...current, startedAt, updatedAt: new Date() });
    };
    const changed = () => {
      if (ended || timer) return;
      const wait = lastPublished + publishMs - performance.now();
      if (wait <= 0) publish();
      else timer = setTimeout(publish, wait).unref();
    };
    publish();
    return {
      update(u: ProgressUpdate) {
        if (u.bytesDone !== undefined) current.bytesDone = u.bytesDone;
        if (u.bytesTotal !== undefined) current.bytesTotal = u.bytesTotal;
        if (u.filesDone !== undefined) current.filesDone = u.filesDone;
        if (u.filesTotal !== undefined) current.filesTotal = u.filesTotal;
        changed();
      },
      addBytes(n: number) {
        current.bytesDone += n;
        changed();
      },
      addFile() {
        current.filesDone = (current.filesDone ?? 0) + 1;
        changed();
      },
      end: () => {
        if (ended) return;
        // The last figures first, so observers see where the task ended.
        publish();
        ended = true;
        if (this.#progressOwner !== owner) return;
        this.#progressOwner = null;
        this.#setProgress(null);
      },
    };
  }

  #setProgress(progress: Progress | null): void {
    const prev = this.#snapshot;
    this.#snapshot = Object.freeze({ ...prev, progress, version: prev.version + 1 });
    for (const l of this.#progressListeners) l(this.#snapshot, prev);
  }

  /** Like `transition` but returns false instead of throwing (for racing callers). */
  tryTransition(to: ComputeStatus, opts: TransitionOptions = {}): boolean {
    if (!canTransition(this.status, to)) return false;
    this.transition(to, opts);
    return true;
  }

  /** Calls `listener` on every status change (and progress change, with `{ progress: true }`). */
  subscribe(listener: StateListener, opts: SubscribeOptions = {}): () => void {
    const set = opts.progress ? this.#progressListeners : this.#listeners;
    set.add(listener);
    return () => set.delete(listener);
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
