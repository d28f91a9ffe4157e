// Error kinds -> Connect/gRPC status codes: the one table of the gRPC API (the REST one is
// api/rest/error-status.ts). A SpecError is INVALID_ARGUMENT carrying its JSON path as a
// SpecViolation detail; anything that is not an OperationError is INTERNAL with secrets masked
// (the message goes to a remote client).
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { SpecViolationSchema } from "../../../gen/compute/v1/errors_pb.js";
import { OperationError, type OperationErrorKind } from "../../errors/operation-error.js";
import { maskSecrets } from "../../log/logger.js";
import { SpecError } from "../../spec/spec-error.js";

const CODES: Record<OperationErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  unprocessable: Code.InvalidArgument,
  unsupported_media_type: Code.InvalidArgument,
  failed_precondition: Code.FailedPrecondition,
  not_found: Code.NotFound,
  unavailable: Code.Unavailable,
  internal: Code.Internal,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  resource_exhausted: Code.ResourceExhausted,
  conflict: Code.Aborted,
  too_large: Code.ResourceExhausted,
};

// Paths as a gRPC client knows them: within the request (`$.spec...`, some core cross-field
// checks report spec-relative `$.tenant_id`), and where the proto puts what the JSON nests
// differently (see spec-to-json.ts).
function protoPath(jsonPath: string): string {
  const inRequest = jsonPath.startsWith("$.spec") ? jsonPath : jsonPath.replace(/^\$/, "$.spec");
  return inRequest.replace(/\.mode\.Static$/, ".static_lsn");
}

export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof SpecError) {
    const path = protoPath(err.path);
    return new ConnectError(`invalid spec at ${path}: ${err.problem}`, Code.InvalidArgument, undefined, [
      { desc: SpecViolationSchema, value: create(SpecViolationSchema, { path, problem: err.problem }) },
    ]);
  }
  if (err instanceof OperationError) {
    return new ConnectError(err.message, CODES[err.kind], undefined, undefined, err);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ConnectError(maskSecrets(message), Code.Internal, undefined, undefined, err);
}

/**
 * Authorization failures. A missing or malformed header is a 400 on REST, but gRPC has no
 * "bad request" for credentials: it is UNAUTHENTICATED, like a bad token.
 */
export function authErrorToConnect(err: unknown): ConnectError {
  if (err instanceof OperationError && err.kind === "invalid_argument") {
    return new ConnectError(err.message, Code.Unauthenticated, undefined, undefined, err);
  }
  if (err instanceof OperationError) return toConnectError(err);
  return new ConnectError("authorization failed", Code.Internal, undefined, undefined, err);
}
