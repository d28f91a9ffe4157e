// Neon vm-monitor's sizing constants and formulas (runner::Config and FileCacheConfig defaults),
// ported bit for bit so thresholds and status texts match what the autoscaler-agent sees from a
// Neon compute. Pure arithmetic; no I/O.

export const MiB = 1024 * 1024;

/** Estimated memory the kernel keeps before userspace: subtracted from agent-reported sizes. */
export const SYS_BUFFER_BYTES = 100 * MiB;
/** At least this fraction of usable memory stays above the threshold: upscale at 85 %. */
export const CGROUP_MIN_OVERHEAD_FRACTION = 0.15;
/** A downscale must leave the new threshold this far above the current usage. */
export const CGROUP_DOWNSCALE_THRESHOLD_BUFFER_BYTES = 100 * MiB;
/** Memory samples older than this make a downscale decision impossible (InternalError). */
export const STALE_MEMORY_STATS_MS = 5_000;
/** Minimum gap between two UpscaleRequests. */
export const UPSCALE_REQUEST_MIN_INTERVAL_MS = 1_000;

/** FileCacheConfig::default(). */
export const FILE_CACHE = {
  resourceMultiplier: 0.75,
  minRemainingAfterCache: 256 * MiB,
  spreadFactor: 0.1,
} as const;

/** Memory the agent's allocation leaves for userspace (`mem - 100 MiB`, saturating). */
export function usableMemory(allocatedBytes: number): number {
  return Math.max(0, allocatedBytes - SYS_BUFFER_BYTES);
}

/** `cgroup_threshold(total)`: f64 multiply, truncated like Rust's `as u64`. */
export function cgroupThreshold(totalBytes: number): number {
  return Math.floor(totalBytes * (1.0 - CGROUP_MIN_OVERHEAD_FRACTION));
}

/** `calculate_cache_size(total)`: the cache target for `total` bytes, rounded down to a MiB. */
export function calculateCacheSize(totalBytes: number): number {
  const available = Math.max(0, totalBytes - FILE_CACHE.minRemainingAfterCache);
  if (available === 0) return 0;
  const sizeFromSpread = Math.max(0, Math.trunc(available / (1.0 + FILE_CACHE.spreadFactor)));
  const sizeFromNormal = Math.trunc(totalBytes * FILE_CACHE.resourceMultiplier);
  const byteSize = Math.min(sizeFromSpread, sizeFromNormal);
  return Math.floor(byteSize / MiB) * MiB;
}

/**
 * Neon's `bytes_to_mebibytes` printed with Rust's `{}`: an f32 shown with the shortest digits that
 * read back as the same f32 and never in exponent form ("785.4", "100", "0.5"). Status texts
 * carry these numbers, so they are reproduced exactly.
 */
export function formatMebibytes(bytes: number): string {
  const value = Math.fround(Math.fround(bytes) / MiB);
  if (!Number.isFinite(value)) return String(value);
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return plainDecimal(candidate);
  }
  return plainDecimal(value);
}

/** A decimal without exponent notation (Rust's float Display never uses one). */
function plainDecimal(n: number): string {
  const s = String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign, lead, frac = "", expText] = m;
  const digits = lead + frac;
  const exp = Number(expText);
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  return sign + digits.padEnd(exp + 1, "0");
}
