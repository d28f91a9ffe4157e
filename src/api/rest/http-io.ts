// Small request/response helpers for the REST gateway: JSON bodies with size limits, JSON answers,
// and the `{"error": "..."}` shape every error uses.
import type { IncomingMessage, ServerResponse } from "node:http";
import { OperationError } from "../../errors/operation-error.js";
import { httpStatusOf } from "./error-status.js";

/** `application/json` or `application/<something>+json`, parameters (charset) allowed: what Neon's axum accepts. */
export function isJsonContentType(header: string | undefined): boolean {
  if (!header) return false;
  const mime = header.split(";")[0].trim().toLowerCase();
  return mime === "application/json" || /^application\/[^/\s]+\+json$/.test(mime);
}

/**
 * The body as JSON. As in Neon: a body not labelled JSON is 415 (also when the header is
 * missing), one that is not JSON at all 400; what the JSON must contain is the caller's check
 * (422 when it does not). Refused (413) as soon as it is known to exceed `maxBytes`.
 */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  if (!isJsonContentType(req.headers["content-type"]))
    throw new OperationError(
      "unsupported_media_type",
      "expected request with `content-type: application/json`",
    );
  const tooLarge = () =>
    new OperationError("too_large", `request body larger than ${maxBytes} bytes (--max-message-bytes)`);
  if (Number(req.headers["content-length"] ?? 0) > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (!text.trim()) throw new OperationError("invalid_argument", "request body is empty: expected JSON");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new OperationError("invalid_argument", `malformed JSON body: ${(err as Error).message}`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { error: message });
}

export function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Maps any thrown error to an answer: an OperationError's kind gives the status, anything else is 500. */
export function sendThrown(res: ServerResponse, err: unknown): void {
  sendError(res, httpStatusOf(err), err instanceof Error ? err.message : String(err));
}
