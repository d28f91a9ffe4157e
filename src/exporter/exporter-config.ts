// The exporter's settings, given by the agent when it starts the exporter thread
// (src/exporter-host/exporter-supervisor.ts). Every setting has a default; a given value must be a
// positive whole number of milliseconds, refused with its name otherwise.

export interface ExporterConfig {
  /** The data directory; the socket is `<pgdata>/neon-communicator.socket`. */
  pgdata: string;
  /** Superuser `postgresql://` URL (never logged). */
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
  /** Longest period between those samples while they find nothing new (buffer-sampler.ts). */
  wssQuietSampleMs: number;
  sourceRecheckMs: number;
  /** Where the working-set estimator is saved so a restarted exporter keeps its history. */
  stateFile: string | null;
  /** The socket's owner (the Postgres OS user when the agent runs as root); null: the agent's user. */
  socketOwner: { uid: number; gid: number } | null;
  /** Lowest pino level worth sending to the agent's log. */
  logLevel: string;
  /** Serve the test hooks (exporter-server.ts); tests only. */
  testHooks: boolean;
}

/** The timing settings, each a positive number of milliseconds, with their defaults. */
export const TIMING_DEFAULTS = {
  ttlMs: 1000,
  scrapeDeadlineMs: 1000,
  statementTimeoutMs: 5000,
  lockTimeoutMs: 1000,
  connectTimeoutMs: 3000,
  wssSampleMs: 2000,
  wssQuietSampleMs: 16_000,
  sourceRecheckMs: 10_000,
} as const satisfies Partial<Record<keyof ExporterConfig, number>>;

export type ExporterTimings = { -readonly [K in keyof typeof TIMING_DEFAULTS]: number };

export interface ExporterSettings extends Partial<ExporterTimings> {
  pgdata: string;
  connstr: string;
  stateFile?: string | null;
  socketOwner?: { uid: number; gid: number } | null;
  logLevel?: string;
  testHooks?: boolean;
}

/** The full configuration: defaults filled in; throws naming the setting that is not valid. */
export function exporterConfig(s: ExporterSettings): ExporterConfig {
  if (!s.pgdata) throw new Error("exporter: pgdata is required");
  if (!s.connstr) throw new Error("exporter: connstr is required");
  const timings = { ...TIMING_DEFAULTS } as ExporterTimings;
  for (const key of Object.keys(TIMING_DEFAULTS) as (keyof ExporterTimings)[]) {
    const v = s[key];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v <= 0)
      throw new Error(
        `exporter: ${key} must be a positive integer of milliseconds, got ${JSON.stringify(v)}`,
      );
    timings[key] = v;
  }
  return {
    ...timings,
    pgdata: s.pgdata,
    connstr: s.connstr,
    stateFile: s.stateFile ?? null,
    socketOwner: s.socketOwner ?? null,
    logLevel: s.logLevel ?? "info",
    testHooks: s.testHooks === true,
  };
}
