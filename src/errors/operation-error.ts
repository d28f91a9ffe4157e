// Errors of core operations, with a kind that REST maps to an HTTP status and gRPC to a code.
// The REST statuses are Neon's compute_ctl ones (docs/neon-compatibility.md): a body that is
// not JSON at all is 400, JSON of the wrong shape (missing field, wrong type, unknown enum
// value) is 422, a body that is not labelled JSON is 415.
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

const HTTP_STATUS: Record<OperationErrorKind, number> = {
  invalid_argument: 400,
  unprocessable: 422,
  unsupported_media_type: 415,
  failed_precondition: 412,
  not_found: 404,
  unavailable: 503,
  internal: 500,
  unauthenticated: 401,
  permission_denied: 403,
  resource_exhausted: 429,
  conflict: 409,
  too_large: 413,
};

export class OperationError extends Error {
  override readonly name = "OperationError";
  constructor(
    readonly kind: OperationErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.kind];
  }
}
