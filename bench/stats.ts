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
