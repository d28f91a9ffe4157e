// Retrying the network-bound steps of a data source (fetching a base backup, syncing
// safekeepers): the peer may still be starting or briefly unreachable, so a failed attempt is
// retried after a growing pause; an error that no retry can fix fails at once.
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";

export interface RetryPolicy {
  /** Retries after the first attempt (so `retries + 1` attempts in all). */
  readonly retries: number;
  /** Pause before retry number `n` (1-based). */
  delayMs(n: number): number;
}

/** Neon's basebackup policy: 500 ms, then x1.5 each time, 10 retries. */
export const basebackupRetryPolicy: RetryPolicy = {
  retries: 10,
  delayMs: (n) => 500 * 1.5 ** (n - 1),
};

/** Neon's sync-safekeepers policy: min(1.1^n, 3) s before retry n, 5 retries. */
export const syncSafekeepersRetryPolicy: RetryPolicy = {
  retries: 5,
  delayMs: (n) => Math.min(1.1 ** n, 3) * 1000,
};

/** Marks an error that a retry cannot fix (bad credentials, unsupported binary, ...). */
export class PermanentError extends Error {
  override readonly name = "PermanentError";
}

export interface RetryOptions {
  /** What is being attempted, for logs and the final error ("basebackup from 127.0.0.1:6400"). */
  readonly what: string;
  readonly policy: RetryPolicy;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Runs between a failed attempt and the next one (e.g. emptying a half-written data dir). */
  readonly beforeRetry?: () => Promise<void>;
}

export async function withRetries<T>(opts: RetryOptions, attempt: (n: number) => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    opts.signal.throwIfAborted();
    try {
      return await attempt(n);
    } catch (err) {
      if (opts.signal.aborted) throw err;
      const last = n >= opts.policy.retries;
      if (err instanceof PermanentError || last) {
        const tries = n + 1;
        const msg = err instanceof Error ? err.message : String(err);
        throw new Error(`${opts.what} failed${tries > 1 ? ` after ${tries} attempts` : ""}: ${msg}`, {
          cause: err,
        });
      }
      const delay = opts.policy.delayMs(n + 1);
      opts.log.warn(
        { attempt: n + 1, retryInMs: Math.round(delay), err: String(err) },
        `${opts.what} failed, retrying`,
      );
      await opts.beforeRetry?.();
      await sleep(delay, undefined, { signal: opts.signal });
    }
  }
}
