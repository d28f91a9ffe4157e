// Small request/response helpers for the REST gateway: JSON bodies with size limits, JSON answers,
// and the `{"error": "..."}` shape every error uses.
import type { IncomingMessage, ServerResponse } from "node:http";
import { OperationError } from "../../compute/operation-error.js";

const MAX_BODY = 16 * 1024 * 1024;

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers["content-type"] ?? "";
  if (type && !type.includes("json"))
    throw new OperationError("invalid_argument", "expected a JSON body (content-type application/json)");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new OperationError("invalid_argument", "request body too large");
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

/** Maps any thrown error to an answer: OperationError keeps its status, anything else is 500. */
export function sendThrown(res: ServerResponse, err: unknown): void {
  if (err instanceof OperationError) sendError(res, err.httpStatus, err.message);
  else sendError(res, 500, err instanceof Error ? err.message : String(err));
}
