// Is WAL reaching the repository? Polls pg_stat_archiver of the running primary every second:
// counts pushed and failed segments into the agent's metrics, logs each new failure, and reports
// archiving as failing once it has failed without a success for longer than archive_timeout
// (then a lost machine would lose more than the spec promises).
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "../../metrics/metric-registry.js";
import { connect } from "../../postgres/connection.js";

export interface ArchiverSample {
  readonly archivedCount: number;
  readonly failedCount: number;
  readonly lastArchivedWal: string | null;
  readonly lastArchivedTime: Date | null;
  readonly lastFailedWal: string | null;
  readonly lastFailedTime: Date | null;
}

export interface ArchiveHealth {
  readonly last_archived_wal: string | null;
  readonly last_archived_at: string | null;
  readonly last_failed_wal: string | null;
  /** First failure since the last success; null while archiving works. */
  readonly failing_since: string | null;
  /** Failing for longer than archive_timeout: commits since then are not durable. */
  readonly failing: boolean;
}

/** Health from two successive samples and the failure start we knew (pure). */
export function nextFailingSince(
  prev: ArchiverSample | null,
  cur: ArchiverSample,
  since: Date | null,
): Date | null {
  const newFailure = cur.failedCount > (prev?.failedCount ?? 0);
  const newSuccess = cur.archivedCount > (prev?.archivedCount ?? 0);
  const lastOk = cur.lastArchivedTime?.getTime() ?? 0;
  const lastFail = cur.lastFailedTime?.getTime() ?? 0;
  if (newSuccess && lastOk >= lastFail) return null;
  if (newFailure && since === null) return cur.lastFailedTime ?? new Date();
  return since;
}

export class ArchiveMonitor {
  #prev: ArchiverSample | null = null;
  #failingSince: Date | null = null;
  #timer: NodeJS.Timeout | null = null;
  #client: Awaited<ReturnType<typeof connect>> | null = null;
  readonly #startedAt = Date.now();
  readonly #pushed: Counter;
  readonly #failed: Counter;

  constructor(
    private readonly opts: {
      connstr: string;
      archiveTimeoutS: number;
      registry: Registry;
      log: Logger;
      intervalMs?: number;
    },
  ) {
    const registers = [opts.registry];
    this.#pushed = new Counter({
      name: "compute_archive_pushed_total",
      help: "WAL files archived to the pgBackRest repository by this compute (pg_stat_archiver)",
      registers,
    });
    this.#failed = new Counter({
      name: "compute_archive_failed_total",
      help: "Failed attempts to archive a WAL file (pg_stat_archiver)",
      registers,
    });
    const monitor = this;
    new Gauge({
      name: "compute_archive_last_archived_age_seconds",
      help: "Seconds since the last WAL file reached the repository (since archiving began when none has)",
      registers,
      collect() {
        const last = monitor.#prev?.lastArchivedTime?.getTime() ?? monitor.#startedAt;
        this.set((Date.now() - last) / 1000);
      },
    });
    new Gauge({
      name: "compute_archive_failing",
      help: "1 when archiving has failed without success for longer than archive_timeout",
      registers,
      collect() {
        this.set(monitor.health().failing ? 1 : 0);
      },
    });
  }

  start(): void {
    const tick = () => {
      void this.#poll().finally(() => {
        if (this.#timer !== null) this.#timer = setTimeout(tick, this.opts.intervalMs ?? 1000);
      });
    };
    this.#timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#client?.end().catch(() => {});
    this.#client = null;
  }

  health(): ArchiveHealth {
    const p = this.#prev;
    const since = this.#failingSince;
    return {
      last_archived_wal: p?.lastArchivedWal ?? null,
      last_archived_at: p?.lastArchivedTime?.toISOString() ?? null,
      last_failed_wal: p?.lastFailedWal ?? null,
      failing_since: since?.toISOString() ?? null,
      failing: since !== null && Date.now() - since.getTime() > this.opts.archiveTimeoutS * 1000,
    };
  }

  async #poll(): Promise<void> {
    try {
      this.#client ??= await connect(
        { connstr: this.opts.connstr },
        { applicationName: "compute_ctl:archive_monitor", connectTimeoutMs: 5000 },
      );
      const { rows } = await this.#client.query<{
        ac: string;
        fc: string;
        law: string | null;
        lat: Date | null;
        lfw: string | null;
        lft: Date | null;
      }>(
        `SELECT archived_count AS ac, failed_count AS fc, last_archived_wal AS law, last_archived_time AS lat,
           last_failed_wal AS lfw, last_failed_time AS lft FROM pg_stat_archiver`,
      );
      const r = rows[0];
      this.observe({
        archivedCount: Number(r.ac),
        failedCount: Number(r.fc),
        lastArchivedWal: r.law,
        lastArchivedTime: r.lat,
        lastFailedWal: r.lfw,
        lastFailedTime: r.lft,
      });
    } catch {
      await this.#client?.end().catch(() => {});
      this.#client = null;
    }
  }

  /** Takes one pg_stat_archiver sample (exported for tests). */
  observe(cur: ArchiverSample): void {
    const prev = this.#prev;
    const pushed = cur.archivedCount - (prev?.archivedCount ?? 0);
    const failed = cur.failedCount - (prev?.failedCount ?? 0);
    if (pushed > 0) this.#pushed.inc(pushed);
    if (failed > 0) {
      this.#failed.inc(failed);
      this.opts.log.warn(
        { wal: cur.lastFailedWal, failed_count: cur.failedCount },
        "archiving a WAL file to the repository failed (Postgres retries; see archive-push in the postgres log)",
      );
    }
    const was = this.#failingSince;
    this.#failingSince = nextFailingSince(prev, cur, was);
    if (was !== null && this.#failingSince === null) {
      this.opts.log.info({ wal: cur.lastArchivedWal }, "archiving works again");
    }
    this.#prev = cur;
  }
}
