// Computes `last_active` for suspend decisions as Neon does, every `intervalMs` on one reused
// connection: non-idle client backends other than the agent's own, else the newest idle
// state_change; walsenders, active subscriptions and autovacuum workers count as activity.
// While Postgres cannot be reached it keeps the downtime counters. With the spec feature
// `activity_monitor_experimental` (Neon's), a change of the summed `active_time` or `sessions` of
// pg_stat_database (user databases) also counts, so short-lived connections are seen.
import type pg from "pg";
import type { Logger } from "pino";
import { connect, parseConnstr } from "../postgres/connection.js";

export interface ActivitySink {
  lastActive: Date | null;
}

export interface DowntimeSink {
  setCurrentDowntimeMs(ms: number): void;
  addDowntimeMs(ms: number): void;
}

const ACTIVITY_SQL = `
SELECT
  (SELECT count(*) FROM pg_stat_activity
     WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
       AND usename IS DISTINCT FROM $1 AND application_name NOT LIKE 'compute\\_ctl:%'
       AND state IS DISTINCT FROM 'idle')::int AS active,
  (SELECT max(state_change) FROM pg_stat_activity
     WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
       AND usename IS DISTINCT FROM $1 AND application_name NOT LIKE 'compute\\_ctl:%'
       AND state = 'idle') AS idle_since,
  (SELECT count(*) FROM pg_stat_replication WHERE application_name <> 'walproposer')::int AS walsenders,
  (SELECT count(*) FROM pg_stat_subscription WHERE pid IS NOT NULL)::int AS subscriptions,
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker')::int AS autovacuum`;

const DATABASE_STATS_SQL = `
SELECT coalesce(sum(active_time), 0.0)::float8 AS active_time, coalesce(sum(sessions), 0)::text AS sessions
  FROM pg_catalog.pg_stat_database WHERE datname NOT IN ('postgres', 'template0', 'template1')`;

export class ActivityMonitor {
  #databaseStats: string | null = null;
  #client: pg.Client | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastUp = Date.now();
  #lastChecked = Date.now();
  #down = false;
  #running = false;
  readonly #superuser: string;

  constructor(
    private readonly opts: {
      connstr: string;
      intervalMs: number;
      activity: ActivitySink;
      downtime: DowntimeSink;
      log: Logger;
      /** Whether the pg_stat_database check is on (the spec's activity_monitor_experimental). */
      databaseStats?: () => boolean;
    },
  ) {
    this.#superuser = parseConnstr(opts.connstr).user;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#lastUp = Date.now();
    this.#lastChecked = Date.now();
    const tick = async () => {
      await this.check();
      if (this.#running) this.#timer = setTimeout(tick, this.opts.intervalMs);
    };
    this.#timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#client?.end().catch(() => {});
    this.#client = null;
  }

  #moveLastActive(t: Date): void {
    const cur = this.opts.activity.lastActive;
    if (!cur || t > cur) this.opts.activity.lastActive = t;
  }

  async check(): Promise<void> {
    const now = Date.now();
    try {
      if (!this.#client) {
        this.#client = await connect(
          { connstr: this.opts.connstr },
          { applicationName: "compute_ctl:compute_monitor", connectTimeoutMs: 2000 },
        );
        this.#client.on("end", () => {
          this.#client = null;
        });
      }
      if (this.opts.databaseStats?.()) {
        const { rows: stats } = await this.#client.query(DATABASE_STATS_SQL);
        const seen = `${stats[0].active_time}/${stats[0].sessions}`;
        if (this.#databaseStats !== null && seen !== this.#databaseStats) this.#moveLastActive(new Date());
        this.#databaseStats = seen;
      }
      const { rows } = await this.#client.query(ACTIVITY_SQL, [this.#superuser]);
      const r = rows[0];
      if (r.active > 0 || r.walsenders > 0 || r.subscriptions > 0 || r.autovacuum > 0)
        this.#moveLastActive(new Date());
      else if (r.idle_since) this.#moveLastActive(new Date(r.idle_since));
      if (this.#down) this.opts.log.info("Postgres is reachable again");
      this.#down = false;
      this.#lastUp = now;
      this.opts.downtime.setCurrentDowntimeMs(0);
    } catch (err) {
      const c = this.#client;
      this.#client = null;
      await c?.end().catch(() => {});
      const current = now - this.#lastUp;
      this.opts.downtime.setCurrentDowntimeMs(current);
      this.opts.downtime.addDowntimeMs(now - this.#lastChecked);
      if (!this.#down)
        this.opts.log.warn({ err, current_ms: current }, "activity monitor cannot reach Postgres");
      this.#down = true;
    }
    this.#lastChecked = now;
  }
}
