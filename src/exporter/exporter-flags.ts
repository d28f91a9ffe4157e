// Command line of the exporter process. The connection string may also come from the
// environment (`COMPUTE_CTL_EXPORTER_CONNSTR`), which is how the supervisor passes it: argv is
// readable by every user through /proc, the environment only by the process owner.
import { parseArgs } from "node:util";

export const CONNSTR_ENV = "COMPUTE_CTL_EXPORTER_CONNSTR";

export interface ExporterConfig {
  pgdata: string;
  connstr: string;
  /** How long collected values are served without asking Postgres again. */
  ttlMs: number;
  /** Longest a scrape waits for a collection before it is answered from older values. */
  scrapeDeadlineMs: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  connectTimeoutMs: number;
  /** Period of the pg_buffercache samples behind the working-set windows (vanilla source). */
  wssSampleMs: number;
  sourceRecheckMs: number;
  /** Where the working-set estimator is saved so a restarted exporter keeps its history. */
  stateFile: string | null;
  logLevel: string;
}

export const USAGE = `usage: exporter --pgdata DIR [--connstr URL] [options]
  --pgdata DIR                 data directory; the socket is DIR/neon-communicator.socket
  --connstr URL                postgresql:// URL (or env ${CONNSTR_ENV})
  --ttl-ms N                   cache TTL of collected values (default 1000)
  --scrape-deadline-ms N       longest a scrape waits for fresh values (default 1000)
  --statement-timeout-ms N     statement_timeout of the exporter's session (default 5000)
  --lock-timeout-ms N          lock_timeout of the exporter's session (default 1000)
  --connect-timeout-ms N       connection attempt timeout (default 3000)
  --wss-sample-ms N            pg_buffercache sampling period (default 2000)
  --source-recheck-ms N        how often to look for the neon LFC objects (default 10000)
  --state-file PATH            keep the working-set estimator across restarts
  --log-level LEVEL            pino level (default info)`;

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new Error(`--${name} must be a positive integer of milliseconds, got ${JSON.stringify(value)}`);
  return n;
}

export function parseExporterFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): ExporterConfig {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      pgdata: { type: "string" },
      connstr: { type: "string" },
      "ttl-ms": { type: "string" },
      "scrape-deadline-ms": { type: "string" },
      "statement-timeout-ms": { type: "string" },
      "lock-timeout-ms": { type: "string" },
      "connect-timeout-ms": { type: "string" },
      "wss-sample-ms": { type: "string" },
      "source-recheck-ms": { type: "string" },
      "state-file": { type: "string" },
      "log-level": { type: "string" },
    },
  });
  if (!values.pgdata) throw new Error("--pgdata is required");
  const connstr = values.connstr ?? env[CONNSTR_ENV];
  if (!connstr) throw new Error(`--connstr (or ${CONNSTR_ENV}) is required`);
  return {
    pgdata: values.pgdata,
    connstr,
    ttlMs: positiveInt("ttl-ms", values["ttl-ms"], 1000),
    scrapeDeadlineMs: positiveInt("scrape-deadline-ms", values["scrape-deadline-ms"], 1000),
    statementTimeoutMs: positiveInt("statement-timeout-ms", values["statement-timeout-ms"], 5000),
    lockTimeoutMs: positiveInt("lock-timeout-ms", values["lock-timeout-ms"], 1000),
    connectTimeoutMs: positiveInt("connect-timeout-ms", values["connect-timeout-ms"], 3000),
    wssSampleMs: positiveInt("wss-sample-ms", values["wss-sample-ms"], 2000),
    sourceRecheckMs: positiveInt("source-recheck-ms", values["source-recheck-ms"], 10_000),
    stateFile: values["state-file"] ?? null,
    logLevel: values["log-level"] ?? "info",
  };
}
