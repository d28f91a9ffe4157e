// Phase timings and counters of the current start (`/metrics.json`, Status). Neon's names are
// always present (0 when a phase did not run); further phases are added as they are recorded.
const NEON_METRICS = [
  "wait_for_spec_ms",
  "sync_sk_check_ms",
  "sync_safekeepers_ms",
  "pageserver_connect_micros",
  "basebackup_ms",
  "basebackup_bytes",
  "start_postgres_ms",
  "config_ms",
  "total_startup_ms",
  "load_ext_ms",
  "num_ext_downloaded",
  "largest_ext_size",
  "total_ext_download_size",
] as const;

export class PhaseTimings {
  readonly #values = new Map<string, number>();
  /** toJSON's answer until a value changes (Status polling reads it on every call). */
  #json: Readonly<Record<string, number>> | undefined;

  constructor() {
    for (const name of NEON_METRICS) this.#values.set(name, 0);
  }

  record(name: string, value: number): void {
    this.#values.set(name, Math.round(value));
    this.#json = undefined;
  }

  get(name: string): number {
    return this.#values.get(name) ?? 0;
  }

  /** Clears the per-start phases (kept: wait_for_spec_ms). */
  resetForStart(): void {
    for (const k of this.#values.keys()) if (k !== "wait_for_spec_ms") this.#values.set(k, 0);
    this.#json = undefined;
  }

  /** The values as an object: the same frozen object until one of them changes. */
  toJSON(): Readonly<Record<string, number>> {
    this.#json ??= Object.freeze(Object.fromEntries(this.#values));
    return this.#json;
  }
}
