// A named step of the start pipeline and the runner that times each one. Steps run in order;
// each records its duration under its metric name and logs it. The durations are contiguous:
// a step is timed from where the previous one ended (or `from`), so they add up to the whole run
// and whatever happens between steps is counted, not lost.
import type { Logger } from "pino";

export interface Step<C> {
  readonly name: string;
  /** Phase timing name in `/metrics.json` (e.g. `start_postgres_ms`). */
  readonly metric: string;
  run(ctx: C): Promise<void>;
}

export async function runSteps<C>(
  steps: readonly Step<C>[],
  ctx: C,
  opts: { log: Logger; record(name: string, ms: number): void; from?: number; signal?: AbortSignal },
): Promise<number> {
  let t0 = opts.from ?? performance.now();
  for (const step of steps) {
    // A terminate or a signal during the start: stop before the next step.
    opts.signal?.throwIfAborted();
    try {
      await step.run(ctx);
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
  return t0;
}
