// Feeds the working-set estimator on vanilla Postgres, which has no per-page access hook: every
// period it reads pg_buffercache and records in a sliding HyperLogLog each page that entered
// shared buffers since the previous sample (a new tag at a buffer, i.e. a shared-buffer miss, the
// same event Neon hashes) or was referenced again (usage count rose, or pinned right now). The
// same sample gives the buffer occupancy (`lfc_used`). The page tag is hashed by Postgres and
// shipped as one hex-encoded string (10 bytes per buffer), which keeps the exporter's CPU low; the
// period stretches when a sample gets expensive so the sampler stays under ~0.5% of a core.
//
// Cadence: every `periodMs` while the buffer pool moves. A sample that finds nothing new (no page
// entered, none referenced again, the occupancy unchanged) doubles the period, up to
// `quietPeriodMs`: an idle compute is sampled a few times a minute instead of every `periodMs`
// (a quiet pool has nothing to record; only the first interval after it wakes is longer). The
// first sample that sees a change brings the period back to `periodMs`. A reader that needs the estimate fresh
// (a scrape: `fresh()`) takes a sample first when the latest is older than `periodMs`, so a
// scraped figure is as fresh as with a constant period.

import { quoteIdent } from "../postgres/quote.js";
import type { ExporterConnection } from "./exporter-connection.js";
import { SlidingHll } from "./sliding-hll.js";
import type { ExporterLog } from "./thread-log.js";

/** The sixty autoscaling windows: 60 s .. 3600 s. */
export const WINDOW_SECONDS: readonly number[] = Array.from({ length: 60 }, (_, i) => (i + 1) * 60);

export interface BufferSamplerOptions {
  conn: ExporterConnection;
  log: ExporterLog;
  /** Period while pages move (and the freshness `fresh()` keeps). */
  periodMs: number;
  /** Longest period while samples find nothing new (default: periodMs, i.e. no back-off). */
  quietPeriodMs?: number;
  queryTimeoutMs: number;
  /** Upper bound on the share of one core the sampling may use (default 0.005 = 0.5%). */
  maxCpuShare?: number;
  now?: () => number;
}

// bufferid, a 32-bit hash of the page tag, usagecount and pin count, packed per buffer.
function sampleSql(schema: string): string {
  const view = `${quoteIdent(schema)}.pg_buffercache`;
  return `SELECT pg_catalog.encode(pg_catalog.string_agg(
  pg_catalog.int4send(bufferid)
  || pg_catalog.int4send((pg_catalog.hashint8extended((relfilenode::int8 << 32) | relblocknumber,
       (reldatabase::int8 << 32) # (reltablespace::int8 << 2) # relforknumber) >> 32)::int4)
  || pg_catalog.int2send((usagecount * 256 + LEAST(pinning_backends, 255))::int2), ''::bytea), 'hex') AS b
FROM ${view} WHERE relfilenode IS NOT NULL`;
}

export class BufferSampler {
  readonly hll = new SlidingHll();
  readonly #opts: BufferSamplerOptions;
  readonly #now: () => number;
  #schema: string | null = null;
  #blockSize = 8192;
  #timer: NodeJS.Timeout | null = null;
  #inflight: Promise<void> | null = null;
  #enabled = false;
  /** The period until the next scheduled sample: periodMs, doubled per quiet sample. */
  #period: number;
  #prevHash = new Int32Array(0);
  #prevUsage = new Uint8Array(0);
  #prevGen = new Uint32Array(0);
  #gen = 1;
  #samples = 0;
  /** Occupied shared buffers at the last sample, in 1 MiB chunks (null before the first sample). */
  usedChunks: number | null = null;
  lastSampleAt = 0;
  lastCostMs = 0;
  lastError: string | null = null;
  errors = 0;
  /** Samples taken (failed ones included). */
  samplesTaken = 0;
  /** Whether the latest successful sample found a change (a page in, referenced, occupancy). */
  lastChanged = true;

  constructor(opts: BufferSamplerOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#period = opts.periodMs;
  }

  /** The current period of the periodic samples (longer while the pool is quiet). */
  get currentPeriodMs(): number {
    return this.#period;
  }

  /** The period below which samples would cost more than the CPU share allows. */
  #costFloorMs(): number {
    return this.lastCostMs / (this.#opts.maxCpuShare ?? 0.005);
  }

  /** Starts or pauses periodic sampling (paused while the neon extension provides the numbers). */
  setEnabled(on: boolean): void {
    if (on === this.#enabled) return;
    this.#enabled = on;
    // After a pause the old reference says nothing about when pages changed: start a new one.
    if (on) {
      this.#samples = 0;
      this.#period = this.#opts.periodMs;
      this.#schedule(0);
    } else if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  stop(): void {
    this.setEnabled(false);
  }

  /** The sixty window estimates, in pages, as of `nowMs`. */
  windows(nowMs = this.#now()): number[] {
    return this.hll.estimateWindows(WINDOW_SECONDS.map((s) => nowMs - s * 1000));
  }

  #schedule(delayMs: number): void {
    if (!this.#enabled || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#tick();
    }, delayMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    await this.sampleOnce();
    const quietMax = Math.max(this.#opts.periodMs, this.#opts.quietPeriodMs ?? this.#opts.periodMs);
    this.#period = this.lastChanged ? this.#opts.periodMs : Math.min(this.#period * 2, quietMax);
    this.#schedule(Math.max(this.#period, this.#costFloorMs()));
  }

  /**
   * Takes a sample now unless the latest is at most `periodMs` old (or the CPU share's floor,
   * when samples are that expensive), or joins the one running; the periodic schedule restarts
   * from it.
   */
  async fresh(): Promise<void> {
    if (this.#inflight) return this.#inflight;
    const age = this.#now() - this.lastSampleAt;
    if (this.lastSampleAt !== 0 && age <= Math.max(this.#opts.periodMs, this.#costFloorMs())) return;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    // A reader is interested: the next periodic sample comes after the base period again.
    this.#period = this.#opts.periodMs;
    await this.#tick();
  }

  async #ensureBuffercache(): Promise<string> {
    if (this.#schema) return this.#schema;
    const conn = this.#opts.conn;
    const t = this.#opts.queryTimeoutMs;
    const find = async () => {
      const r = (await conn.query(
        "finding pg_buffercache",
        `SELECT n.nspname AS schema, pg_catalog.current_setting('block_size')::int AS block_size
         FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_buffercache'`,
        t,
      )) as { rows: { schema: string; block_size: number }[] };
      return r.rows[0];
    };
    let row = await find();
    if (!row) {
      // contrib ships it; the session's search_path is empty, so the schema is named.
      await conn.query(
        "creating extension pg_buffercache",
        "CREATE EXTENSION IF NOT EXISTS pg_buffercache WITH SCHEMA public",
        t,
      );
      this.#opts.log.info("created extension pg_buffercache for the working-set estimator");
      row = await find();
      if (!row) throw new Error("pg_buffercache is not installed after CREATE EXTENSION");
    }
    this.#blockSize = row.block_size;
    this.#schema = row.schema;
    return row.schema;
  }

  /**
   * Takes one sample now, or joins the one running. Errors are recorded, not thrown: the
   * estimator just misses a beat.
   */
  sampleOnce(): Promise<void> {
    this.#inflight ??= this.#sample().finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  async #sample(): Promise<void> {
    const cpu0 = process.cpuUsage();
    this.samplesTaken++;
    try {
      const schema = await this.#ensureBuffercache();
      const r = (await this.#opts.conn.query(
        "sampling pg_buffercache",
        sampleSql(schema),
        this.#opts.queryTimeoutMs,
      )) as { rows: { b: string | null }[] };
      // Hex text rather than a bytea: node-pg decodes bytea through a slower path.
      this.#ingest(Buffer.from(r.rows[0]?.b ?? "", "hex"), this.#now());
      this.lastError = null;
    } catch (err) {
      this.errors++;
      const message = (err as Error).message;
      if (message !== this.lastError) this.#opts.log.warn({ err }, "working-set sample failed");
      this.lastError = message;
      // The extension may have been dropped or moved: look it up again next time.
      this.#schema = null;
    } finally {
      const cpu = process.cpuUsage(cpu0);
      this.lastCostMs = (cpu.user + cpu.system) / 1000;
    }
  }

  #grow(maxId: number): void {
    if (maxId < this.#prevHash.length) return;
    const size = Math.max(maxId + 1, this.#prevHash.length * 2);
    const h = new Int32Array(size);
    h.set(this.#prevHash);
    const u = new Uint8Array(size);
    u.set(this.#prevUsage);
    const g = new Uint32Array(size);
    g.set(this.#prevGen);
    this.#prevHash = h;
    this.#prevUsage = u;
    this.#prevGen = g;
  }

  #ingest(buf: Buffer, nowMs: number): void {
    const first = this.#samples === 0;
    const prevGen = this.#gen - 1;
    let valid = 0;
    let accessed = 0;
    for (let off = 0; off + 10 <= buf.length; off += 10) {
      const id = buf.readInt32BE(off);
      const hash = buf.readInt32BE(off + 4);
      const packed = buf.readUInt16BE(off + 8);
      const usage = packed >>> 8;
      const pins = packed & 0xff;
      this.#grow(id);
      valid++;
      const same = this.#prevGen[id] === prevGen && this.#prevHash[id] === hash;
      // The first sample only sets the reference: when those pages were used is unknown.
      if (!first && (!same || usage > this.#prevUsage[id] || pins > 0)) {
        this.hll.add(hash, nowMs);
        accessed++;
      }
      this.#prevHash[id] = hash;
      this.#prevUsage[id] = usage;
      this.#prevGen[id] = this.#gen;
    }
    this.#gen++;
    this.#samples++;
    const used = Math.ceil((valid * this.#blockSize) / (1024 * 1024));
    // A buffer emptied (a dropped relation) changes no tag we compare, but the occupancy.
    this.lastChanged = first || accessed > 0 || used !== this.usedChunks;
    this.usedChunks = used;
    this.lastSampleAt = nowMs;
  }
}
