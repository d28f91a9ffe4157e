// Tokens that passed verification and the claim rules, remembered for a short while: a control
// plane sends the same token on every call, and an EdDSA/RSA signature check costs several times
// a whole Status call. Safe because the keys never change at runtime; an entry never outlives
// the token's `exp` (plus the same clock tolerance verification allows). Failures are not kept.
export class VerifiedTokens {
  /** token -> valid until (ms since the epoch); Map order doubles as age order for eviction. */
  readonly #entries = new Map<string, number>();

  constructor(
    private readonly maxEntries = 1024,
    private readonly ttlMs = 60_000,
  ) {}

  has(token: string, now = Date.now()): boolean {
    const until = this.#entries.get(token);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#entries.delete(token);
    return false;
  }

  /** `expiresAtMs`: the latest moment verification would still accept the token, if bounded. */
  add(token: string, expiresAtMs: number | undefined, now = Date.now()): void {
    const until = Math.min(now + this.ttlMs, expiresAtMs ?? Number.POSITIVE_INFINITY);
    if (until <= now) return;
    if (this.#entries.size >= this.maxEntries && !this.#entries.has(token)) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(token, until);
  }

  get size(): number {
    return this.#entries.size;
  }
}
