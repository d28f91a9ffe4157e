// One writer per stanza: a lease object in the repository, next to pgBackRest's own files
// (`<repo path>/compute_ctl/<stanza>/lease-<generation>.json`). A primary takes the lease before
// it touches the stanza and renews it every ttl/3 while it runs; a second primary finds it held
// and refuses, naming the holder. Each acquisition creates the next generation's object with an
// exclusive create (O_EXCL on a file system, `If-None-Match: *` on S3), so of two computes that
// race only one wins; a holder that finds a newer generation on renewal has been taken over and
// fences itself.
//
// Takeover: a lease not renewed for `ttl` seconds is expired and may be taken by anyone; a
// released one (clean stop) at once; a lease held by the same compute id (a restart of the same
// compute, e.g. after kill -9) at once. The control plane must still guarantee that one compute
// id runs at most once, and that clocks agree to well within the ttl.
import { randomUUID } from "node:crypto";
import os from "node:os";
import type { Logger } from "pino";

/** Where lease objects live: a directory on a file system, or a key prefix in a bucket. */
export interface LeaseStore {
  /** For messages: `posix:/repo/compute_ctl/main` or `s3://bucket/path/compute_ctl/main`. */
  readonly where: string;
  list(): Promise<string[]>;
  /** null when absent. */
  read(name: string): Promise<string | null>;
  /** false when `name` exists already. */
  createExclusive(name: string, body: string): Promise<boolean>;
  overwrite(name: string, body: string): Promise<void>;
  remove(name: string): Promise<void>;
}

export interface LeaseRecord {
  readonly format: 1;
  readonly stanza: string;
  readonly generation: number;
  readonly holder: string;
  readonly token: string;
  readonly host: string;
  readonly pid: number;
  readonly state: "held" | "released";
  readonly acquired_at: string;
  readonly renewed_at: string;
  readonly ttl_seconds: number;
  /** Set on release after a clean stop: everything up to here is in the repository. */
  readonly final_lsn?: string | null;
  /** The shutdown checkpoint's LSN (a restore replays at least up to it). */
  readonly checkpoint_lsn?: string | null;
  readonly timeline?: number | null;
  readonly released_at?: string;
}

export class LeaseHeldError extends Error {
  override readonly name = "LeaseHeldError";
}

const NAME = /^lease-(\d{10})\.json$/;

function leaseName(generation: number): string {
  return `lease-${String(generation).padStart(10, "0")}.json`;
}

export function isExpired(rec: LeaseRecord, now: number): boolean {
  return now - Date.parse(rec.renewed_at) > rec.ttl_seconds * 1000;
}

/** The newest lease record, or null when the stanza never had one. */
export async function currentLease(store: LeaseStore): Promise<LeaseRecord | null> {
  const gens = (await store.list())
    .map((n) => NAME.exec(n)?.[1])
    .filter((g): g is string => g !== undefined)
    .map(Number)
    .sort((a, b) => b - a);
  for (const g of gens) {
    const text = await store.read(leaseName(g));
    if (text === null) continue; // removed between list and read
    try {
      const rec = JSON.parse(text) as LeaseRecord;
      if (rec.format !== 1 || rec.generation !== g || typeof rec.renewed_at !== "string")
        throw new Error("bad");
      return rec;
    } catch {
      throw new Error(
        `the lease object ${leaseName(g)} in ${store.where} is damaged; remove it once no compute runs on the stanza`,
      );
    }
  }
  return null;
}

function describe(rec: LeaseRecord, now: number): string {
  const ago = Math.round((now - Date.parse(rec.renewed_at)) / 1000);
  const left = Math.max(0, rec.ttl_seconds - ago);
  return `compute ${rec.holder} (host ${rec.host}, pid ${rec.pid}; renewed ${ago} s ago, expires in ${left} s)`;
}

export interface AcquireOptions {
  readonly store: LeaseStore;
  readonly stanza: string;
  /** Compute id of this agent (`--compute-id`, else host:pgdata). */
  readonly holder: string;
  readonly ttlS: number;
  readonly log: Logger;
}

export class StanzaLease {
  #record: LeaseRecord;
  #timer: NodeJS.Timeout | null = null;
  #lastRenewed = Date.now();
  #lost: string | null = null;
  #renewing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly opts: AcquireOptions,
    record: LeaseRecord,
    /** The lease before ours: tells how the previous primary stopped. */
    readonly previous: LeaseRecord | null,
  ) {
    this.#record = record;
  }

  get record(): LeaseRecord {
    return this.#record;
  }

  /** Why the lease was lost (taken over, or not renewable for a whole ttl); null while held. */
  get lost(): string | null {
    return this.#lost;
  }

  static async acquire(opts: AcquireOptions): Promise<StanzaLease> {
    const { store, log } = opts;
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = Date.now();
      const cur = await currentLease(store);
      if (cur && cur.state === "held" && cur.holder !== opts.holder && !isExpired(cur, now)) {
        throw new LeaseHeldError(
          `stanza ${opts.stanza} has a running primary: the lease in ${store.where} is held by ${describe(cur, now)}`,
        );
      }
      if (cur?.state === "held") {
        log.warn(
          { previous_holder: cur.holder, previous_host: cur.host, renewed_at: cur.renewed_at },
          cur.holder === opts.holder
            ? "taking over the stanza lease from an earlier run of this compute"
            : "taking over an expired stanza lease",
        );
      }
      const generation = (cur?.generation ?? 0) + 1;
      const stamp = new Date(now).toISOString();
      const rec: LeaseRecord = {
        format: 1,
        stanza: opts.stanza,
        generation,
        holder: opts.holder,
        token: randomUUID(),
        host: os.hostname(),
        pid: process.pid,
        state: "held",
        acquired_at: stamp,
        renewed_at: stamp,
        ttl_seconds: opts.ttlS,
      };
      if (await store.createExclusive(leaseName(generation), JSON.stringify(rec))) {
        // Old generations are history; keep a couple for operators.
        for (const n of await store.list()) {
          const g = Number(NAME.exec(n)?.[1] ?? Number.NaN);
          if (g < generation - 2) await store.remove(n).catch(() => {});
        }
        log.info({ generation, where: store.where }, "stanza lease acquired");
        return new StanzaLease(opts, rec, cur);
      }
      // Another compute created this generation first: look again (it now holds the lease).
    }
    throw new Error(
      `could not acquire the lease of stanza ${opts.stanza} in ${store.where}: too much contention`,
    );
  }

  /** Renews every ttl/3 until released; `onLost` is called once if the lease is lost. */
  startRenewing(onLost: (reason: string) => void): void {
    const period = Math.max(1000, (this.opts.ttlS * 1000) / 3);
    let told = false;
    const tick = async () => {
      try {
        await this.#renew();
      } catch (err) {
        const since = Date.now() - this.#lastRenewed;
        this.opts.log.warn({ err, since_ms: since }, "stanza lease renewal failed");
        if (since > this.opts.ttlS * 1000) {
          this.#lost ??= `the lease could not be renewed for ${Math.round(since / 1000)} s`;
          this.opts.log.error({ reason: this.#lost }, "stanza lease lost");
        }
      }
      if (this.#lost && !told) {
        told = true;
        this.stopRenewing();
        onLost(this.#lost);
      }
    };
    this.#timer = setInterval(() => {
      this.#renewing = tick();
    }, period);
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    if (this.#lost || this.#record.state !== "held") return;
    await this.#checkStillOurs();
    if (this.#lost) return;
    const rec = { ...this.#record, renewed_at: new Date().toISOString() };
    await this.opts.store.overwrite(leaseName(rec.generation), JSON.stringify(rec));
    this.#record = rec;
    this.#lastRenewed = Date.now();
  }

  async #checkStillOurs(): Promise<void> {
    const cur = await currentLease(this.opts.store);
    if (!cur || cur.generation !== this.#record.generation || cur.token !== this.#record.token) {
      this.#lost = `taken over by ${cur ? `compute ${cur.holder} (generation ${cur.generation})` : "nobody (the lease is gone)"}`;
      this.stopRenewing();
      this.opts.log.error({ reason: this.#lost }, "stanza lease lost");
    }
  }

  /** Throws unless the lease is still ours (checked before a primary becomes writable). */
  async verify(): Promise<void> {
    await this.#checkStillOurs();
    if (this.#lost) throw new LeaseHeldError(`stanza ${this.opts.stanza}: lease lost, ${this.#lost}`);
  }

  stopRenewing(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /**
   * Marks the lease released; `final` after a clean stop whose WAL is all in the repository.
   * `wrote` false: this holder never wrote to the stanza (its start failed before Postgres ran
   * as a primary), so the previous holder's final LSN still describes the stanza's end.
   */
  async release(
    final: { lsn: string; checkpointLsn: string; timeline: number } | null,
    wrote = true,
  ): Promise<void> {
    this.stopRenewing();
    await this.#renewing.catch(() => {});
    if (this.#lost || this.#record.state === "released") return;
    await this.#checkStillOurs();
    if (this.#lost) return;
    const carried = !final && !wrote && this.previous?.state === "released" ? this.previous : null;
    const rec: LeaseRecord = {
      ...this.#record,
      state: "released",
      released_at: new Date().toISOString(),
      final_lsn: final?.lsn ?? carried?.final_lsn ?? null,
      checkpoint_lsn: final?.checkpointLsn ?? carried?.checkpoint_lsn ?? null,
      timeline: final?.timeline ?? carried?.timeline ?? null,
    };
    await this.opts.store.overwrite(leaseName(rec.generation), JSON.stringify(rec));
    this.#record = rec;
    this.opts.log.info({ generation: rec.generation, final_lsn: rec.final_lsn }, "stanza lease released");
  }
}
