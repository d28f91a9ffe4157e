// Validation of the small JSON bodies of POST /grants and POST /extensions: each rejection is
// an OperationError("unprocessable") naming the field.
import { OperationError } from "../errors/operation-error.js";

export function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new OperationError("unprocessable", "request body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

export function requireName(body: Record<string, unknown>, field: string): string {
  const v = body[field];
  if (typeof v !== "string" || v.length === 0) {
    throw new OperationError("unprocessable", `${field}: expected a non-empty string`);
  }
  if (Buffer.byteLength(v, "utf8") > 63) {
    throw new OperationError("unprocessable", `${field}: longer than 63 bytes`);
  }
  return v;
}
