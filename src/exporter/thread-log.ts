// The exporter's log: each line goes to the agent as a message and is written by the agent's
// logger (component `exporter`, the agent's redaction). Loading pino a second time in this thread
// would cost memory for nothing. Errors are flattened to what pino's serializer keeps.
import type { MessagePort } from "node:worker_threads";
import type { ExporterMessage, LogLevel } from "./thread-protocol.js";

type LogFn = (fields: object | string, msg?: string) => void;

/** The part of a pino logger the exporter uses; a pino logger is one too (tests pass one). */
export interface ExporterLog {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
}

const RANK: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

function plain(value: unknown, depth = 0): unknown {
  if (value instanceof Error) {
    const { code } = value as NodeJS.ErrnoException;
    return {
      type: value.name,
      message: value.message,
      stack: value.stack,
      ...(code !== undefined ? { code } : {}),
      ...(value.cause !== undefined && depth < 3 ? { cause: plain(value.cause, depth + 1) } : {}),
    };
  }
  return value;
}

export function threadLog(port: MessagePort, level: string): ExporterLog {
  const floor = RANK[level as LogLevel] ?? RANK.info;
  const at =
    (l: LogLevel): LogFn =>
    (fields, msg) => {
      if (RANK[l] < floor) return;
      const f: Record<string, unknown> = {};
      if (typeof fields === "string") msg = fields;
      else for (const [k, v] of Object.entries(fields)) f[k] = plain(v);
      const m: ExporterMessage = { kind: "log", level: l, fields: f, msg: msg ?? "" };
      try {
        port.postMessage(m);
      } catch {
        // A value that cannot be cloned (a function, a socket): send what JSON keeps of it.
        port.postMessage({ ...m, fields: JSON.parse(JSON.stringify(f, (_k, v) => plain(v))) });
      }
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), fatal: at("fatal") };
}
