// Repeated timing with warm-up, and the median/spread summary every benchmark reports.
export interface Stats {
  runs: number;
  median: number;
  min: number;
  max: number;
  p90: number;
}

export function summarize(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
  return { runs: s.length, median: at(0.5), min: s[0], max: s[s.length - 1], p90: at(0.9) };
}

/**
 * A distribution-free confidence interval of the median (default 95%): the order statistics
 * whose ranks a Binomial(n, 1/2) count puts outside with at most (1 - confidence) / 2 on each
 * side. Needs at least 6 samples for 95%; fewer give the whole range.
 */
export function medianInterval(samples: number[], confidence = 0.95): { low: number; high: number } {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  const tail = (1 - confidence) / 2;
  // P(X <= j) for X ~ Binomial(n, 1/2), accumulated until it passes the tail.
  let term = 0.5 ** n;
  let below = term;
  let k = 0;
  while (below <= tail && k < n) {
    k++;
    term = (term * (n - k + 1)) / k;
    below += term;
  }
  // With P(X <= k - 1) <= tail: the k-th smallest and the k-th largest (k >= 1).
  return k === 0 ? { low: s[0], high: s[n - 1] } : { low: s[k - 1], high: s[n - k] };
}

/** Runs `fn` `warmup` times unmeasured, then `runs` times; `fn` returns its own measurement in ms. */
export async function repeat(
  fn: () => Promise<number>,
  opts: { warmup?: number; runs: number },
): Promise<Stats> {
  for (let i = 0; i < (opts.warmup ?? 1); i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < opts.runs; i++) samples.push(await fn());
  return summarize(samples);
}

export function fmt(st: Stats, unit = "ms"): string {
  const d = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
  return `${d(st.median)} ${unit} (min ${d(st.min)}, max ${d(st.max)}, n=${st.runs})`;
}

/** The median alone, as the summary table shows it ("533 ms", "21.4 ms"). */
export function median(st: Stats, unit = "ms"): string {
  return `${st.median >= 100 ? st.median.toFixed(0) : st.median.toFixed(1)} ${unit}`;
}

/**
 * One row of the summary table at the top of docs/benchmarks.md, which `npm run bench` also
 * copies into the README: each cell is written by the benchmark, never by hand.
 */
export interface SummaryRow {
  figure: string;
  ours: string;
  /** The floor or peer, named, with its figure ("" when the target is absolute). */
  floor: string;
  /** The target and the verdict, e.g. "within 15% of the floor ✅". */
  target: string;
}

/** A section of docs/benchmarks.md produced by one benchmark module. */
export interface BenchSection {
  title: string;
  /** Markdown body: a table with our figure next to its floor or peer, and a verdict against the target. */
  markdown: string;
  /** Its headline figures for the summary table (and the README). */
  summary?: SummaryRow[];
}
