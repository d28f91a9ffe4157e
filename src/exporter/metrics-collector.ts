// The exporter's collector: the autoscaling set and the Postgres set, each behind its own
// coalescing TTL cache (the autoscaler's scrapes need only the cheap autoscaling query), read over
// the one persistent connection. Decides the autoscaling source (neon objects or vanilla) and
// re-checks it every few seconds, since the neon extension can be created while we run.
import pg from "pg";
import type { MetricFamily } from "../metrics/metric-family.js";
import {
  type AutoscalingValues,
  detectSource,
  readNeon,
  readVanillaCounters,
  type SourceKind,
} from "./autoscaling-source.js";
import type { BufferSampler } from "./buffer-sampler.js";
import { CoalescingCache } from "./coalescing-cache.js";
import {
  ConnectionUnavailableError,
  type ExporterConnection,
  QueryTimeoutError,
} from "./exporter-connection.js";
import { familyFromRows, metricSql, POSTGRES_SET, postgresSetSql } from "./postgres-set.js";
import type { ExporterLog } from "./thread-log.js";

export interface AutoscalingSnapshot {
  source: SourceKind;
  values: AutoscalingValues;
}

export interface CollectorOptions {
  conn: ExporterConnection;
  sampler: BufferSampler;
  log: ExporterLog;
  ttlMs: number;
  /** Client-side bound on one query; the connection is dropped when it is exceeded. */
  queryTimeoutMs: number;
  sourceRecheckMs?: number;
}

/** statement_timeout / cancel (57xxx) and lock_timeout (55P03). */
function isTimeout(err: pg.DatabaseError): boolean {
  return (err.code ?? "").startsWith("57") || err.code === "55P03";
}

export function classifyError(err: unknown): string {
  if (err instanceof QueryTimeoutError) return "timeout";
  if (err instanceof ConnectionUnavailableError) return "connect";
  return "query";
}

export class MetricsCollector {
  readonly autoscaling: CoalescingCache<AutoscalingSnapshot>;
  readonly postgres: CoalescingCache<MetricFamily[]>;
  readonly #opts: CollectorOptions;
  #source: SourceKind | null = null;
  #sourceCheckedAt = 0;
  #timer: NodeJS.Timeout | null = null;
  /** Failures of single Postgres-set queries when the batch had to be split, by metric. */
  readonly metricErrors = new Map<string, number>();

  constructor(opts: CollectorOptions) {
    this.#opts = opts;
    this.autoscaling = new CoalescingCache({
      load: () => this.#collectAutoscaling(),
      ttlMs: opts.ttlMs,
      classify: classifyError,
    });
    this.postgres = new CoalescingCache({
      load: () => this.#collectPostgresSet(),
      ttlMs: opts.ttlMs,
      classify: classifyError,
    });
  }

  /**
   * Keeps the source decision (and so the buffer sampler) current while nobody scrapes: the
   * working-set estimator needs samples from the start, not from the first scrape.
   */
  start(): void {
    const check = () => {
      this.#currentSource().catch(() => {});
    };
    check();
    this.#timer = setInterval(check, this.#opts.sourceRecheckMs ?? 10_000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#opts.sampler.stop();
  }

  get source(): SourceKind | null {
    return this.#source;
  }

  async #currentSource(): Promise<SourceKind> {
    const now = Date.now();
    if (this.#source === null || now - this.#sourceCheckedAt >= (this.#opts.sourceRecheckMs ?? 10_000)) {
      const found = await detectSource(this.#opts.conn, this.#opts.queryTimeoutMs);
      if (found !== this.#source) this.#opts.log.info({ source: found }, "autoscaling metrics source");
      this.#source = found;
      this.#sourceCheckedAt = now;
      this.#opts.sampler.setEnabled(found === "vanilla");
    }
    return this.#source;
  }

  async #collectAutoscaling(): Promise<AutoscalingSnapshot> {
    const { conn, sampler, queryTimeoutMs } = this.#opts;
    const source = await this.#currentSource();
    if (source === "neon") {
      try {
        return { source, values: await readNeon(conn, queryTimeoutMs) };
      } catch (err) {
        // The objects may just have been dropped: decide again now rather than at the next recheck.
        if (!(err instanceof Error && err.cause instanceof pg.DatabaseError)) throw err;
        this.#sourceCheckedAt = 0;
        if ((await this.#currentSource()) === "neon") throw err;
      }
    }
    const counters = await readVanillaCounters(conn, queryTimeoutMs);
    // A reader gets windows and occupancy at most one base period old (the first sample too),
    // however far the sampler has stretched its period while the buffer pool was quiet.
    await sampler.fresh();
    return {
      source,
      values: { ...counters, usedChunks: sampler.usedChunks ?? 0, windows: sampler.windows() },
    };
  }

  async #collectPostgresSet(): Promise<MetricFamily[]> {
    const { conn, queryTimeoutMs } = this.#opts;
    try {
      const results = (await conn.query(
        "reading the Postgres set",
        postgresSetSql,
        queryTimeoutMs,
      )) as pg.QueryResult[];
      return POSTGRES_SET.map((m, i) => familyFromRows(m, results[i].rows));
    } catch (err) {
      if (!(err instanceof Error) || !(err.cause instanceof pg.DatabaseError) || isTimeout(err.cause))
        throw err;
      // One query failed (a missing privilege, say): run them one by one and keep the others.
      // Not after a timeout: eighteen more timeouts would hold the connection the autoscaling
      // set needs.
      const families: MetricFamily[] = [];
      for (const m of POSTGRES_SET) {
        try {
          const r = (await conn.query(
            `reading ${m.name}`,
            (caps) => metricSql(m, caps),
            queryTimeoutMs,
          )) as pg.QueryResult;
          families.push(familyFromRows(m, r.rows));
        } catch (e) {
          if (!(e instanceof Error) || !(e.cause instanceof pg.DatabaseError)) throw e;
          this.metricErrors.set(m.name, (this.metricErrors.get(m.name) ?? 0) + 1);
        }
      }
      return families;
    }
  }
}
