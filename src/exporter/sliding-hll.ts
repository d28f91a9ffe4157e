// Sliding HyperLogLog (Chabchoub & Hébrail), the estimator behind Neon's working-set windows:
// 1024 registers, and per register the last time each rank (1..23) was seen instead of only the
// maximum rank, so the number of distinct items seen within ANY recent window can be estimated.
// Same parameters and corrections as Neon's hll.c; timestamps are milliseconds.

const BIT_WIDTH = 10;
export const HLL_REGISTERS = 1 << BIT_WIDTH; // 1024
const C_BITS = 32 - BIT_WIDTH; // 22 hash bits left for the rank
const RANKS = C_BITS + 1; // 23

const ALPHA_MM = (0.7213 / (1 + 1.079 / HLL_REGISTERS)) * HLL_REGISTERS * HLL_REGISTERS;
const TWO_32 = 2 ** 32;

export class SlidingHll {
  /** regs[i * RANKS + j]: last time (ms) rank j+1 was seen in register i; 0 = never. */
  readonly regs = new Float64Array(HLL_REGISTERS * RANKS);

  /** Records one item by its 32-bit hash at time `nowMs`. */
  add(hash32: number, nowMs: number): void {
    const h = hash32 >>> 0;
    const index = h >>> C_BITS;
    const rest = (h << BIT_WIDTH) >>> 0;
    // rho: 1-based position of the leftmost 1 among the 22 remaining bits (23 if all zero).
    const rank = Math.min(Math.clz32(rest) + 1, RANKS);
    this.regs[index * RANKS + rank - 1] = nowMs;
  }

  /** Distinct items seen at or after `sinceMs` (one window). */
  estimate(sinceMs: number): number {
    return this.estimateWindows([sinceMs])[0];
  }

  /**
   * Estimates for several windows at once, `since` values in any order. One pass over the
   * registers: per register the highest rank seen since t is found by walking ranks downwards
   * and keeping the newest timestamp met so far.
   */
  estimateWindows(sinceMs: readonly number[]): number[] {
    const order = sinceMs.map((s, k) => ({ s: Math.max(s, Number.MIN_VALUE), k })).sort((a, b) => b.s - a.s);
    const n = order.length;
    const sums = new Float64Array(n);
    const zeros = new Int32Array(n);
    const rankFor = new Int32Array(n);
    for (let i = 0; i < HLL_REGISTERS; i++) {
      rankFor.fill(0);
      let newest = 0; // newest timestamp among ranks above j
      let next = n; // windows [next, n) are already resolved (they are the longest ones)
      const base = i * RANKS;
      for (let j = RANKS - 1; j >= 0 && next > 0; j--) {
        const t = this.regs[base + j];
        if (t <= newest) continue;
        newest = t;
        // Every unresolved window whose start is at or before t sees rank j+1 as its maximum.
        while (next > 0 && order[next - 1].s <= t) rankFor[--next] = j + 1;
      }
      for (let w = 0; w < n; w++) {
        const r = rankFor[w];
        sums[w] += 2 ** -r;
        if (r === 0) zeros[w]++;
      }
    }
    const out = new Array<number>(n);
    for (let w = 0; w < n; w++) out[order[w].k] = correct(ALPHA_MM / sums[w], zeros[w]);
    return out;
  }

  /** Forgets everything (like `approximate_working_set_size(true)`). */
  reset(): void {
    this.regs.fill(0);
  }
}

function correct(raw: number, zeros: number): number {
  let e = raw;
  if (e <= 2.5 * HLL_REGISTERS) {
    if (zeros > 0) e = HLL_REGISTERS * Math.log(HLL_REGISTERS / zeros);
  } else if (e > TWO_32 / 30) {
    e = -TWO_32 * Math.log(1 - e / TWO_32);
  }
  return Math.trunc(e);
}
