// The agent's structured log: pino JSON on stderr by default, `--log-format pretty` for humans.
// Secrets never reach it: known secret fields are replaced at any depth of a logged object,
// and `maskSecrets` masks passwords, tokens and password hashes in free text (every logged
// string, error messages, Postgres output).
import { type Logger, pino } from "pino";
import * as load from "../loading/modules.js";

export type LogFormat = "json" | "pretty";

const SECRET_KEYS = [
  "password",
  "encrypted_password",
  "storage_auth_token",
  "endpoint_storage_token",
  "token",
  "authorization",
  "connstr",
];

/**
 * What every pattern of maskSecrets needs somewhere in the text (a superset: "://" for URLs with a
 * password, "password" for both password forms, "bearer", "scram-sha-256$", "md5", "eyj").
 */
const MAY_HOLD_SECRET = /:\/\/|password|bearer|scram-sha-256\$|md5|eyj/i;

/**
 * Masks passwords in URLs (`postgresql://u:secret@h`), `password=...` pairs, `PASSWORD '...'`
 * clauses, bearer tokens, and md5 / SCRAM password hashes.
 */
export function maskSecrets(text: string): string {
  // Most logged strings (paths, ids, messages) hold none of what the patterns below start with:
  // they are returned as they are, without seven scans and copies each.
  if (!MAY_HOLD_SECRET.test(text)) return text;
  return (
    text
      .replace(/(\w+:\/\/[^:/@\s]*:)[^@\s]*@/g, "$1***@")
      .replace(/(password\s*=\s*)('[^']*'|\S+)/gi, "$1***")
      .replace(/(PASSWORD\s+)('(?:[^']|'')*'|E'(?:[^']|'')*')/g, "$1'***'")
      .replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]+/g, "$1***")
      // Password hashes are recognisable wherever they appear (a DETAIL line, an error message).
      .replace(/SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+/g, "SCRAM-SHA-256$***")
      .replace(/\bmd5[0-9a-f]{32}\b/g, "md5***")
      .replace(/\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, "***jwt***")
  );
}

const SECRET_KEY_SET = new Set([...SECRET_KEYS, "connstring", "primary_conninfo", "pgpassword"]);
const MAX_DEPTH = 8;

/**
 * The whole logged object with every secret field replaced and free text masked, at any depth:
 * pino's redact paths only reach the depths they list, and a spec or request body logged one
 * level deeper would otherwise carry its passwords into the log.
 */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return maskSecrets(value);
  if (value === null || typeof value !== "object" || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  if (value instanceof Error || value instanceof Date || Buffer.isBuffer(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = v != null && SECRET_KEY_SET.has(k.toLowerCase()) ? "***" : redactDeep(v, depth + 1);
  }
  return out;
}

export interface LoggerOptions {
  format?: LogFormat;
  level?: string;
  destination?: number;
  /** pino-pretty's stream factory, required for the pretty format (see openLogger). */
  pretty?: typeof import("pino-pretty");
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? "info";
  const base = {
    level,
    base: { pid: process.pid },
    serializers: { err: (e: unknown) => serializeError(e) },
    // Every logged object, at any depth. (pino's own `redact` paths would repeat this for the
    // depths they list only, and their wildcards cost a deep walk of every value of every line.)
    formatters: { log: (obj: Record<string, unknown>) => redactDeep(obj) as Record<string, unknown> },
  };
  if (opts.format === "pretty") {
    if (!opts.pretty) throw new Error("--log-format pretty needs pino-pretty: use openLogger()");
    // In the process, synchronously: a worker-thread transport would lose the last lines of an
    // agent that exits right after logging, and the bundled agent has no worker file to start.
    return maskingChildren(
      pino(base, opts.pretty({ destination: opts.destination ?? 2, colorize: false, sync: true })),
    );
  }
  return maskingChildren(pino(base, pino.destination({ dest: opts.destination ?? 2, sync: true })));
}

/**
 * A child logger's bindings are masked as logged objects are. pino formats them without the
 * formatters above, so `child` itself is wrapped; children are made from their parent and
 * inherit the wrapper.
 */
function maskingChildren(root: Logger): Logger {
  const child = root.child;
  root.child = function (this: Logger, bindings, options) {
    return child.call(this, redactDeep(bindings) as typeof bindings, options);
  } as Logger["child"];
  return root;
}

/** `createLogger`, loading pino-pretty first when the pretty format is asked for. */
export async function openLogger(opts: LoggerOptions = {}): Promise<Logger> {
  if (opts.format !== "pretty" || opts.pretty) return createLogger(opts);
  const { default: pretty } = await load.pinoPretty();
  return createLogger({ ...opts, pretty });
}

function serializeError(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  return {
    type: e.name,
    message: maskSecrets(e.message),
    cause: e.cause instanceof Error ? maskSecrets(e.cause.message) : undefined,
  };
}
