// Error kinds -> HTTP statuses: the one table of the REST API (the gRPC one is
// api/grpc/error-codes.ts). Anything that is not an OperationError is a 500.
import { OperationError, type OperationErrorKind } from "../../errors/operation-error.js";

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

export function httpStatusOf(err: unknown): number {
  return err instanceof OperationError ? HTTP_STATUS[err.kind] : 500;
}
