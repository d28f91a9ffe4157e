// Per-client token buckets for /autoscaling_metrics. A spec reads `RATE/UNIT[,burst=N]`, e.g.
// `20/s`, `20/s,burst=40`, `600/m`: RATE requests per second (s) or minute (m) on average, with up
// to `burst` requests at once (default: one second's worth, at least 1). Clients are keyed by
// address; idle buckets are forgotten once they would be full again, so memory stays bounded.

export interface RateLimitSpec {
  perSecond: number;
  burst: number;
}

export function parseRateLimit(spec: string): RateLimitSpec {
  const m =
    /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|sec|second|m|min|minute))?\s*(?:,\s*burst\s*[= ]\s*(\d+))?\s*$/i.exec(
      spec,
    );
  if (!m)
    throw new Error(
      `rate limit ${JSON.stringify(spec)}: expected RATE/s or RATE/m, optionally ",burst=N" (e.g. 20/s,burst=40)`,
    );
  const rate = Number(m[1]);
  const perSecond = (m[2] ?? "s").toLowerCase().startsWith("m") ? rate / 60 : rate;
  if (!(perSecond > 0)) throw new Error(`rate limit ${JSON.stringify(spec)}: the rate must be above 0`);
  const burst = m[3] !== undefined ? Number(m[3]) : Math.max(1, Math.ceil(perSecond));
  if (burst < 1) throw new Error(`rate limit ${JSON.stringify(spec)}: burst must be at least 1`);
  return { perSecond, burst };
}

interface Bucket {
  tokens: number;
  at: number;
}

const PRUNE_ABOVE = 10_000;

export class ClientRateLimiter {
  readonly #spec: RateLimitSpec;
  readonly #buckets = new Map<string, Bucket>();

  constructor(spec: RateLimitSpec) {
    this.#spec = spec;
  }

  /** Takes a token for `client`; returns 0 when allowed, else seconds until a token is available. */
  take(client: string, nowMs = Date.now()): number {
    const { perSecond, burst } = this.#spec;
    let b = this.#buckets.get(client);
    if (!b) {
      if (this.#buckets.size >= PRUNE_ABOVE) this.#prune(nowMs);
      b = { tokens: burst, at: nowMs };
      this.#buckets.set(client, b);
    }
    b.tokens = Math.min(burst, b.tokens + ((nowMs - b.at) / 1000) * perSecond);
    b.at = nowMs;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / perSecond;
  }

  #prune(nowMs: number): void {
    const { perSecond, burst } = this.#spec;
    for (const [client, b] of this.#buckets) {
      if (b.tokens + ((nowMs - b.at) / 1000) * perSecond >= burst) this.#buckets.delete(client);
    }
    // Still crowded (very many distinct clients): forget the oldest buckets rather than grow.
    for (const client of this.#buckets.keys()) {
      if (this.#buckets.size < PRUNE_ABOVE / 2) break;
      this.#buckets.delete(client);
    }
  }

  get clients(): number {
    return this.#buckets.size;
  }
}
