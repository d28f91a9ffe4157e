// The errors a client can see, in one hierarchy. An operation that refuses or fails throws an
// OperationError whose `kind` says what went wrong in protocol-neutral terms; subclasses add
// context (SpecError: the JSON path of a refused spec value; PgdataRefusedError: why -D may not
// be wiped). Nothing between the operation and the API edge re-wraps them, so what the edge sees
// is what was thrown: each protocol maps kinds to its codes in one table (REST:
// api/rest/error-status.ts, gRPC: api/grpc/error-codes.ts), and a SpecError keeps its path as
// gRPC's SpecViolation detail. Anything that is not an OperationError is an internal error.
//
// The REST statuses are Neon's compute_ctl ones (docs/neon-compatibility.md): a body that is not
// JSON at all is invalid_argument (400), JSON of the wrong shape (missing field, wrong type,
// unknown enum value) unprocessable (422), a body that is not labelled JSON
// unsupported_media_type (415).
export type OperationErrorKind =
  | "invalid_argument"
  | "unprocessable"
  | "unsupported_media_type"
  | "failed_precondition"
  | "not_found"
  | "unavailable"
  | "internal"
  | "unauthenticated"
  | "permission_denied"
  | "resource_exhausted"
  | "conflict"
  | "too_large";

export class OperationError extends Error {
  override readonly name: string = "OperationError";
  constructor(
    readonly kind: OperationErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
