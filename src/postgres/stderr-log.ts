// Forwards Postgres's stderr into the agent's structured log, one entry per message, with
// Postgres's severity mapped to a log level (only PANIC is fatal; routine FATALs are not even
// errors). The last lines are kept for error reports (e.g. why Postgres refused to start).

import readline from "node:readline";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { maskSecrets } from "../log/logger.js";

type Level = "debug" | "info" | "warn" | "error" | "fatal";

// FATAL ends one session, not the server: an error. Only PANIC (the server itself stops) is
// fatal, so an alert on level 60 means the compute is down (the agent's own fatal errors are 60
// too).
const LEVELS: Record<string, Level> = {
  DEBUG: "debug",
  LOG: "info",
  INFO: "info",
  NOTICE: "info",
  STATEMENT: "info",
  DETAIL: "info",
  HINT: "info",
  CONTEXT: "info",
  WARNING: "warn",
  ERROR: "error",
  FATAL: "error",
  PANIC: "fatal",
};

/** FATAL messages that are routine or a client's mistake, and the level they deserve. */
const ROUTINE_FATAL: readonly [RegExp, Level][] = [
  // Every backend says this when the agent stops Postgres (fast shutdown, 57P01).
  [/^terminating connection due to administrator command/, "info"],
  // A client's wrong password, host or name: worth seeing, not an error of the compute.
  [/^password authentication failed for user /, "warn"],
  [/^no pg_hba\.conf entry for /, "warn"],
  [/^(role|database) ".*" does not exist/, "warn"],
  [
    /^the database system is (starting up|shutting down|not yet accepting connections|in recovery mode)/,
    "warn",
  ],
];

/** The log level of a Postgres message of `severity` (DEBUG1..5 as DEBUG). */
export function postgresLogLevel(severity: string, message: string): Level {
  if (severity === "FATAL") {
    for (const [re, level] of ROUTINE_FATAL) if (re.test(message)) return level;
  }
  return LEVELS[severity] ?? "info";
}

const SEVERITY =
  /^(?:.*?\s)?(DEBUG\d?|LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC|STATEMENT|DETAIL|HINT|CONTEXT):\s+(.*)$/;

export class PostgresStderr {
  readonly #recent: string[] = [];
  readonly done: Promise<void>;

  constructor(stream: Readable, log: Logger) {
    const rl = readline.createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    rl.on("line", (raw) => {
      const line = maskSecrets(raw);
      this.#recent.push(line);
      if (this.#recent.length > 50) this.#recent.shift();
      const m = SEVERITY.exec(line);
      const severity = m ? m[1].replace(/\d$/, "") : "LOG";
      const message = m ? m[2] : line;
      log[postgresLogLevel(severity, message)]({ pg_severity: severity }, message);
    });
    this.done = new Promise((resolve) => rl.once("close", resolve));
  }

  /**
   * The recent messages that explain a failure: FATAL/PANIC/ERROR lines (with their DETAIL and
   * HINT) first, then the last few lines (Postgres reports a rejected setting as a LOG line
   * followed by a FATAL one), without their prefixes.
   */
  errorSummary(): string {
    const strip = (l: string) => l.replace(/^.*?\b(LOG|FATAL|PANIC|ERROR|WARNING|DETAIL|HINT):\s+/, "$1: ");
    const important = this.#recent.filter((l) => /\b(FATAL|PANIC|ERROR|DETAIL):/.test(l)).slice(-5);
    const tail = this.#recent.slice(-5).filter((l) => !important.includes(l));
    return [...important, ...tail].map(strip).join("\n");
  }
}
