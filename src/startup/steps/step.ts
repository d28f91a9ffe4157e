// A named step of the start pipeline and the runner that times each one. Steps run in order,
// each given what the earlier ones produced and returning what it produces (no shared mutable
// context);
// each records its duration under its metric name and logs it. The durations are contiguous:
// a step is timed from where the previous one ended (or `from`), so they add up to the whole run
// and whatever happens between steps is counted, not lost.
import type { Logger } from "pino";

export interface Step<C, P extends object> {
  readonly name: string;
  /** Phase timing name in `/metrics.json` (e.g. `start_postgres_ms`). */
  readonly metric: string;
  /** Runs with what the earlier steps produced; returns what it produces itself, if anything. */
  // biome-ignore lint/suspicious/noConfusingVoidType: most steps produce nothing and return nothing
  run(ctx: C, produced: Readonly<P>): Promise<Partial<P> | void>;
}

/** Runs the steps in order; resolves with what they produced and when the last one ended. */
export async function runSteps<C, P extends object>(
  steps: readonly Step<C, P>[],
  ctx: C,
  opts: {
    log: Logger;
    record(name: string, ms: number): void;
    from?: number;
    signal?: AbortSignal;
    /** Hears what each step produced as soon as it has (what must outlive a later failure). */
    produced?(out: Readonly<Partial<P>>): void;
  },
): Promise<{ end: number; produced: Readonly<P> }> {
  let produced = {} as P;
  let t0 = opts.from ?? performance.now();
  for (const step of steps) {
    // A terminate or a signal during the start: stop before the next step.
    opts.signal?.throwIfAborted();
    try {
      const out = await step.run(ctx, produced);
      if (out) {
        produced = { ...produced, ...out };
        opts.produced?.(out);
      }
    } catch (err) {
      opts.log.error({ step: step.name, err }, "start step failed");
      throw err;
    }
    const end = performance.now();
    const ms = end - t0;
    t0 = end;
    opts.record(step.metric, ms);
    opts.log.info({ step: step.name, duration_ms: Math.round(ms * 10) / 10 }, "start step done");
  }
  return { end: t0, produced };
}
