// Forwards Postgres's stderr into the agent's structured log, one entry per message, with
// Postgres's severity mapped to a log level. The last lines are kept for error reports
// (e.g. why Postgres refused to start).

import readline from "node:readline";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { maskSecrets } from "../log/logger.js";

const LEVELS: Record<string, "debug" | "info" | "warn" | "error" | "fatal"> = {
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
  FATAL: "fatal",
  PANIC: "fatal",
};

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
      const level = LEVELS[severity] ?? "info";
      log[level]({ pg_severity: severity }, m ? m[2] : line);
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
