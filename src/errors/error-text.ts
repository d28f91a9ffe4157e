// An error as one line for a log, a `failed` status or an answer: its message and those of its
// causes (each once), secrets masked.
import { maskSecrets } from "../log/logger.js";

export function errorText(err: unknown, maxParts = 4): string {
  const parts: string[] = [];
  let e: unknown = err;
  while (e instanceof Error && parts.length < maxParts) {
    const message = e.message;
    if (!parts.some((p) => p.includes(message))) parts.push(message);
    e = e.cause;
  }
  return maskSecrets(parts.join(": ") || String(err));
}
