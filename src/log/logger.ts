// The agent's structured log: pino JSON on stderr by default, `--log-format pretty` for humans.
// Secrets never reach it: known secret fields are redacted by path, and URLs with passwords are
// masked by `maskSecrets` wherever free text (errors, Postgres output) is logged.
import { type Logger, pino } from "pino";

export type LogFormat = "json" | "pretty";

const SECRET_KEYS = [
  "password",
  "encrypted_password",
  "storage_auth_token",
  "token",
  "authorization",
  "connstr",
];

export const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  ...SECRET_KEYS.map((k) => `*.*.${k}`),
  "req.headers.authorization",
  "spec.storage_auth_token",
  "spec.cluster.roles[*].encrypted_password",
];

/** Masks passwords in URLs (`postgresql://u:secret@h`), `password=...` pairs and bearer tokens. */
export function maskSecrets(text: string): string {
  return text
    .replace(/(\w+:\/\/[^:/@\s]*:)[^@\s]*@/g, "$1***@")
    .replace(/(password\s*=\s*)('[^']*'|\S+)/gi, "$1***")
    .replace(/(PASSWORD\s+)('(?:[^']|'')*'|E'(?:[^']|'')*')/g, "$1'***'")
    .replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]+/g, "$1***");
}

export function createLogger(
  opts: { format?: LogFormat; level?: string; destination?: number } = {},
): Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? "info";
  const base = {
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: "***" },
    serializers: { err: (e: unknown) => serializeError(e) },
  };
  if (opts.format === "pretty") {
    return pino({
      ...base,
      transport: { target: "pino-pretty", options: { destination: opts.destination ?? 2, colorize: false } },
    });
  }
  return pino(base, pino.destination({ dest: opts.destination ?? 2, sync: true }));
}

function serializeError(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  return {
    type: e.name,
    message: maskSecrets(e.message),
    cause: e.cause instanceof Error ? maskSecrets(e.cause.message) : undefined,
  };
}
