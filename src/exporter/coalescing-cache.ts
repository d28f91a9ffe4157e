// A value that is expensive to produce (a collection from Postgres), cached for a TTL. Scrapes
// that arrive while a collection runs wait for that same collection instead of starting another,
// and nobody waits past their deadline: a late or failed collection leaves the last good value
// in place, served marked stale, while the running collection may still finish and refresh it.
// Not lru-cache's fetch(): it coalesces and can serve stale values on error, but it has no
// per-reader deadline with the load running on, no "when was this collected" for the age and
// fresh-for headers, and no failure counts by kind; those would still be written around it, for
// one key in a thread whose memory counts, so what it would replace is the few lines of #start.

export interface CacheRead<T> {
  /** The last good value, or null when no collection has succeeded yet. */
  value: T | null;
  /** When `value` was collected (ms since epoch), 0 when none. */
  takenAt: number;
  /** The value is older than the TTL: the collection behind this read failed or was late. */
  stale: boolean;
  /** Why the latest attempt did not produce a value, if it did not. */
  error: string | null;
}

export interface CacheStats {
  collections: number;
  /** Failures by kind: classified by the `classify` callback, plus "deadline" for late reads. */
  errors: Map<string, number>;
  lastDurationMs: number;
}

export interface CoalescingCacheOptions<T> {
  load: () => Promise<T>;
  ttlMs: number;
  classify?: (err: unknown) => string;
  now?: () => number;
}

export class CoalescingCache<T> {
  readonly stats: CacheStats = { collections: 0, errors: new Map(), lastDurationMs: 0 };
  readonly #opts: CoalescingCacheOptions<T>;
  readonly #now: () => number;
  #value: T | null = null;
  #takenAt = 0;
  #error: string | null = null;
  #inflight: Promise<void> | null = null;

  constructor(opts: CoalescingCacheOptions<T>) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  #count(kind: string): void {
    this.stats.errors.set(kind, (this.stats.errors.get(kind) ?? 0) + 1);
  }

  #start(): Promise<void> {
    if (this.#inflight) return this.#inflight;
    const started = this.#now();
    this.#inflight = this.#opts
      .load()
      .then(
        (v) => {
          this.#value = v;
          this.#takenAt = this.#now();
          this.#error = null;
        },
        (err: unknown) => {
          this.#error = err instanceof Error ? err.message : String(err);
          this.#count(this.#opts.classify?.(err) ?? "error");
        },
      )
      .finally(() => {
        this.stats.collections++;
        this.stats.lastDurationMs = this.#now() - started;
        this.#inflight = null;
      });
    return this.#inflight;
  }

  #read(): CacheRead<T> {
    const age = this.#now() - this.#takenAt;
    return {
      value: this.#value,
      takenAt: this.#takenAt,
      stale: this.#value === null || age > this.#opts.ttlMs,
      error: this.#error,
    };
  }

  /** The value, refreshed if older than the TTL, waiting at most `deadlineMs` for the refresh. */
  async get(deadlineMs: number): Promise<CacheRead<T>> {
    if (this.#value !== null && this.#now() - this.#takenAt <= this.#opts.ttlMs) return this.#read();
    const loading = this.#start();
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      loading.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    if (late) {
      this.#count("deadline");
      const read = this.#read();
      return {
        ...read,
        stale: true,
        error: read.error ?? `collection still running after the ${deadlineMs} ms deadline`,
      };
    }
    return this.#read();
  }

  /** The value as it is, without triggering a collection. */
  peek(): CacheRead<T> {
    return this.#read();
  }
}
