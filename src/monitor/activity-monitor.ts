// Computes `last_active` for suspend decisions as Neon does, every `intervalMs` on one reused
// connection: non-idle client backends other than the agent's own, else the newest idle
// state_change; walsenders, active subscriptions and autovacuum workers count as activity.
// While Postgres cannot be reached it keeps the downtime counters. With the spec feature
// `activity_monitor_experimental` (Neon's), new sessions in pg_stat_database (user databases)
// also count, so short-lived connections are seen. Unlike Neon, the agent's own sessions (the
// installed-extensions collection, the reconciler) are subtracted, and active_time is not used
// (the agent's own queries would move it): a compute must not stay awake for its agent's sake.
import type pg from "pg";
import type { Logger } from "pino";
import { agentSessions, connect, parseConnstr } from "../postgres/connection.js";
import { quoteLiteral } from "../postgres/quote.js";

export interface ActivitySink {
  lastActive: Date | null;
}

export interface DowntimeSink {
  setCurrentDowntimeMs(ms: number): void;
  addDowntimeMs(ms: number): void;
}

// Both queries run twice a second for as long as the compute runs, so they are named prepared
// statements on the reused connection, planned once per connection: parsing and planning five
// subqueries over the statistics views on every tick cost Postgres many times what executing
// them does. The superuser's name is a literal, not a parameter, so the generic plan is cached
// from the first execution.
function activitySql(superuser: string): string {
  const su = quoteLiteral(superuser);
  return `
SELECT
  (SELECT count(*) FROM pg_stat_activity
     WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
       AND usename IS DISTINCT FROM ${su} AND application_name NOT LIKE 'compute\\_ctl:%'
       AND state IS DISTINCT FROM 'idle')::int AS active,
  (SELECT max(state_change) FROM pg_stat_activity
     WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
       AND usename IS DISTINCT FROM ${su} AND application_name NOT LIKE 'compute\\_ctl:%'
       AND state = 'idle') AS idle_since,
  (SELECT count(*) FROM pg_stat_replication WHERE application_name <> 'walproposer')::int AS walsenders,
  (SELECT count(*) FROM pg_stat_subscription WHERE pid IS NOT NULL)::int AS subscriptions,
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker')::int AS autovacuum`;
}

const SYSTEM_DATABASES = ["postgres", "template0", "template1"];
const DATABASE_STATS: pg.QueryConfig = {
  name: "compute_ctl_database_stats",
  text: `
SELECT coalesce(sum(sessions), 0)::float8 AS sessions
  FROM pg_catalog.pg_stat_database WHERE datname NOT IN ('postgres', 'template0', 'template1')`,
};

export class ActivityMonitor {
  /** The most user sessions seen (pg_stat_database's count minus the agent's own). */
  #userSessions: number | null = null;
  #client: pg.Client | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastUp = Date.now();
  #lastChecked = Date.now();
  #down = false;
  #running = false;
  readonly #activity: pg.QueryConfig;

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
    this.#activity = { name: "compute_ctl_activity", text: activitySql(parseConnstr(opts.connstr).user) };
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
        const { rows: stats } = await this.#client.query(DATABASE_STATS);
        // The agent's count is taken after the query: a session it opened meanwhile can only
        // make the difference smaller, never look like a user's.
        const users = Number(stats[0].sessions) - agentSessions(SYSTEM_DATABASES);
        // Only a new high counts: pg_stat_database may lag behind the agent's own count.
        if (this.#userSessions !== null && users > this.#userSessions) this.#moveLastActive(new Date());
        this.#userSessions = Math.max(users, this.#userSessions ?? users);
      }
      const { rows } = await this.#client.query(this.#activity);
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
