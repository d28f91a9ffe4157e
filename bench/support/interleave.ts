// Runs several measured variants in rounds (A, B, C, A, B, C, ...) after a warm-up round, so a
// change in machine load during the benchmark hits every variant alike instead of skewing the
// comparison between our figure and its floor.
import { type Stats, summarize } from "../stats.js";

export async function interleave<K extends string>(
  variants: Record<K, () => Promise<number>>,
  opts: { runs: number; warmup?: number },
): Promise<Record<K, Stats>> {
  const names = Object.keys(variants) as K[];
  const samples = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let round = -(opts.warmup ?? 1); round < opts.runs; round++) {
    for (const name of names) {
      const ms = await variants[name]();
      if (round >= 0) samples[name].push(ms);
    }
  }
  return Object.fromEntries(names.map((n) => [n, summarize(samples[n])])) as Record<K, Stats>;
}

export function verdict(ok: boolean): string {
  return ok ? "✅" : "❌";
}
