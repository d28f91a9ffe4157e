// The vm-monitor's one long-lived Postgres connection (per agent connection, as in Neon). Reads
// are retried once on a fresh connection, like Neon's `query_with_retry`; changes (ALTER SYSTEM,
// pg_reload_conf) are not, so a failure is reported instead of being applied twice.
import type pg from "pg";
import type { Logger } from "pino";
import { connect } from "../postgres/connection.js";

export const VM_MONITOR_APPLICATION_NAME = "compute_ctl:vm-monitor";

export class MonitorPgSession {
  private client: pg.Client | null = null;
  private broken = false;
  private closed = false;

  constructor(
    private readonly connstr: string,
    private readonly log: Logger,
    private readonly connectTimeoutMs = 3_000,
  ) {}

  private async ensureClient(): Promise<pg.Client> {
    if (this.closed) throw new Error("vm-monitor postgres session is closed");
    if (this.client && !this.broken) return this.client;
    const old = this.client;
    this.client = null;
    if (old) await old.end().catch(() => {});
    const client = await connect(
      { connstr: this.connstr },
      { applicationName: VM_MONITOR_APPLICATION_NAME, connectTimeoutMs: this.connectTimeoutMs },
    );
    // Closed while connecting (connection replaced or timed out): do not leak the new client.
    if (this.closed) {
      await client.end().catch(() => {});
      throw new Error("vm-monitor postgres session is closed");
    }
    this.broken = false;
    // connect() already swallows idle errors; remember them so the next call reconnects.
    client.on("error", () => {
      this.broken = true;
    });
    client.on("end", () => {
      this.broken = true;
    });
    this.client = client;
    return client;
  }

  /** Opens the connection now (so set-up fails early and clearly). */
  async open(): Promise<void> {
    await this.ensureClient();
  }

  /** A read-only query, retried once on a new connection. */
  async read<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
    try {
      return (await (await this.ensureClient()).query<T>(sql)).rows;
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        "vm-monitor postgres query failed; reconnecting and retrying",
      );
      this.broken = true;
      return (await (await this.ensureClient()).query<T>(sql)).rows;
    }
  }

  /** A statement with effects; not retried. */
  async execute(sql: string): Promise<void> {
    try {
      await (await this.ensureClient()).query(sql);
    } catch (err) {
      // A server-side SQL error (it has a SQLSTATE) leaves the connection usable.
      if (typeof (err as { code?: unknown }).code !== "string") this.broken = true;
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = null;
    if (client) await client.end().catch(() => {});
  }
}
