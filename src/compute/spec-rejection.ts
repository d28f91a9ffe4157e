// A refused spec as an operation error: 422 for what Neon's JSON deserializer refuses (shape),
// 400 for what its spec validation refuses (rule). The message names the JSON path.

import { OperationError } from "../errors/operation-error.js";
import type { SpecError } from "../spec/spec-error.js";

export function specRejection(err: SpecError): OperationError {
  return new OperationError(err.kind === "shape" ? "unprocessable" : "invalid_argument", err.message, {
    cause: err,
  });
}
