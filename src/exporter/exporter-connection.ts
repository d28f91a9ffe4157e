// The exporter's one persistent Postgres session. Named `compute_ctl:exporter` so the activity
// monitor ignores it, bounded by statement_timeout/lock_timeout on the server and by a client-side
// timer (a hung server never answers the server-side timeout). At most one connection exists or
// is being opened at any time; after a failed attempt further attempts wait out a backoff, so a
// stopped or hung Postgres never accumulates connection attempts. Queries take turns: the
// autoscaling set, the Postgres set and the buffer sampler share the session, and a pg client
// must not be given a query while another runs (pg 8 warns, pg 9 refuses). Each connection
// learns the server's version once, so callers can build the SQL that major understands.
import type { Socket } from "node:net";
import pg from "pg";
import { capabilitiesOf, type PgCapabilities, SERVER_VERSION_NUM_SQL } from "../postgres/capabilities.js";
import { connect } from "../postgres/connection.js";
import type { ExporterLog } from "./thread-log.js";

export const EXPORTER_APPLICATION_NAME = "compute_ctl:exporter";

export interface ExporterConnectionOptions {
  connstr: string;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  connectTimeoutMs: number;
  log: ExporterLog;
  /** First wait after a failed connection attempt; doubles up to `maxBackoffMs`. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class ConnectionUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConnectionUnavailableError";
  }
}

export class QueryTimeoutError extends Error {
  constructor(what: string, ms: number, queued = false) {
    super(
      queued
        ? `${what}: not started within ${ms} ms (the session was busy with another query)`
        : `${what}: no answer from Postgres within ${ms} ms (connection dropped)`,
    );
    this.name = "QueryTimeoutError";
  }
}

/** A query, or a function that builds it for the connected server's capabilities. */
export type ExporterQuery = pg.QueryConfig | string | ((caps: PgCapabilities) => pg.QueryConfig | string);

export class ExporterConnection {
  readonly #opts: ExporterConnectionOptions;
  #client: pg.Client | null = null;
  #connecting: Promise<pg.Client> | null = null;
  #retryAt = 0;
  #backoffMs: number;
  #lastError: Error | null = null;
  #closed = false;
  #caps: PgCapabilities | null = null;
  /** Settles when every query admitted so far has finished: the next one waits for it. */
  #turn: Promise<void> = Promise.resolve();
  /** Connections established, and attempts made (the health metrics expose both). */
  connects = 0;
  connectAttempts = 0;

  constructor(opts: ExporterConnectionOptions) {
    this.#opts = opts;
    this.#backoffMs = opts.minBackoffMs ?? 250;
  }

  get connected(): boolean {
    return this.#client !== null;
  }

  async #open(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    if (this.#closed) throw new ConnectionUnavailableError("exporter connection is closed");
    if (this.#connecting) return this.#connecting;
    if (Date.now() < this.#retryAt) {
      throw new ConnectionUnavailableError(
        `Postgres unreachable, next connection attempt in ${this.#retryAt - Date.now()} ms: ${this.#lastError?.message}`,
      );
    }
    this.connectAttempts++;
    this.#connecting = (async () => {
      try {
        const client = await connect(
          { connstr: this.#opts.connstr },
          {
            applicationName: EXPORTER_APPLICATION_NAME,
            connectTimeoutMs: this.#opts.connectTimeoutMs,
            settings: {
              statement_timeout: `${this.#opts.statementTimeoutMs}ms`,
              lock_timeout: `${this.#opts.lockTimeoutMs}ms`,
            },
          },
        );
        client.on("end", () => {
          if (this.#client === client) this.#client = null;
        });
        // Before the client is shared, so this query overlaps nothing.
        const version = await client.query<{ v: number }>(SERVER_VERSION_NUM_SQL);
        this.#caps = capabilitiesOf(Number(version.rows[0].v));
        if (this.#closed) {
          destroy(client);
          throw new ConnectionUnavailableError("exporter connection is closed");
        }
        this.#client = client;
        this.#backoffMs = this.#opts.minBackoffMs ?? 250;
        this.#retryAt = 0;
        this.connects++;
        return client;
      } catch (err) {
        this.#lastError = err as Error;
        this.#retryAt = Date.now() + this.#backoffMs;
        this.#backoffMs = Math.min(this.#backoffMs * 2, this.#opts.maxBackoffMs ?? 5000);
        this.#opts.log.warn({ err }, "exporter cannot connect to Postgres");
        throw new ConnectionUnavailableError(`connecting to Postgres: ${(err as Error).message}`, {
          cause: err,
        });
      } finally {
        this.#connecting = null;
      }
    })();
    return this.#connecting;
  }

  /** The connected server's capabilities (null before the first connection). */
  get capabilities(): PgCapabilities | null {
    return this.#caps;
  }

  /**
   * Runs one query (or a multi-statement string) once the queries before it have finished;
   * `timeoutMs` bounds the whole call, waiting included. A query that starts but outlives it
   * costs the connection: it is destroyed, because the server may be hung and the next query
   * would queue behind it. One that never got its turn leaves the connection alone.
   */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    what: string,
    query: ExporterQuery,
    timeoutMs: number,
  ): Promise<pg.QueryResult<R> | pg.QueryResult<R>[]> {
    const deadline = Date.now() + timeoutMs;
    const before = this.#turn;
    let finished!: () => void;
    const mine = new Promise<void>((r) => {
      finished = r;
    });
    this.#turn = before.then(() => mine);
    try {
      let waitTimer: NodeJS.Timeout | undefined;
      const waited = await Promise.race([
        before.then(() => true),
        new Promise<false>((r) => {
          waitTimer = setTimeout(() => r(false), timeoutMs);
        }),
      ]);
      clearTimeout(waitTimer);
      if (!waited) throw new QueryTimeoutError(what, timeoutMs, true);
      return await this.#run<R>(what, query, Math.max(1, deadline - Date.now()), timeoutMs);
    } finally {
      finished();
    }
  }

  async #run<R extends pg.QueryResultRow>(
    what: string,
    query: ExporterQuery,
    remainingMs: number,
    timeoutMs: number,
  ): Promise<pg.QueryResult<R> | pg.QueryResult<R>[]> {
    const client = await this.#open();
    const caps = this.#caps;
    if (!caps) throw new ConnectionUnavailableError("exporter connection has no server version");
    const config = typeof query === "function" ? query(caps) : query;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#drop(client);
        reject(new QueryTimeoutError(what, timeoutMs));
      }, remainingMs);
    });
    const run = client.query(config as pg.QueryConfig) as unknown as Promise<
      pg.QueryResult<R> | pg.QueryResult<R>[]
    >;
    try {
      return await Promise.race([run, timeout]);
    } catch (err) {
      // SQL errors carry a SQLSTATE and leave the session usable; anything else means it is gone.
      if (!(err instanceof QueryTimeoutError) && !(err instanceof pg.DatabaseError)) this.#drop(client);
      throw err instanceof QueryTimeoutError
        ? err
        : new Error(`${what}: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
      // A dropped client's query settles later (or never); its turn ends now.
      run.catch(() => {});
    }
  }

  #drop(client: pg.Client): void {
    if (this.#client === client) this.#client = null;
    destroy(client);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = null;
    if (!client) return;
    // A polite Terminate when the server answers, the socket torn down when it does not.
    await Promise.race([client.end().catch(() => {}), new Promise((r) => setTimeout(r, 500).unref())]);
    destroy(client);
  }
}

function destroy(client: pg.Client): void {
  const stream = (client as unknown as { connection?: { stream?: Socket } }).connection?.stream;
  stream?.destroy();
}
