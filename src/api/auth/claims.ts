// Neon's authorization rules on a verified token's claims (compute_tools authorize.rs): an admin
// token must be meant for computes, any other token must name this compute. A `scope` other than
// the admin one is refused like a bad token (401): Neon's claims type knows only that scope, so
// such a token fails to decode; it must not fall through to the compute_id check.
import type { JWTPayload } from "jose";
import { OperationError } from "../../errors/operation-error.js";

export const ADMIN_SCOPE = "compute_ctl:admin";
export const COMPUTE_AUDIENCE = "compute";

export function checkClaims(claims: JWTPayload, computeId: string | null): void {
  if (claims.scope !== undefined && claims.scope !== null && claims.scope !== ADMIN_SCOPE) {
    throw new OperationError(
      "unauthenticated",
      `failed to verify authorization token: invalid compute claims scope ${JSON.stringify(claims.scope)}`,
    );
  }
  if (
    claims.compute_id !== undefined &&
    claims.compute_id !== null &&
    typeof claims.compute_id !== "string"
  ) {
    throw new OperationError(
      "unauthenticated",
      "failed to verify authorization token: compute_id is not a string",
    );
  }
  if (claims.scope === ADMIN_SCOPE) {
    if (claims.aud === undefined) {
      throw new OperationError("unauthenticated", "missing audience in authorization token claims");
    }
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audiences.includes(COMPUTE_AUDIENCE)) {
      throw new OperationError("unauthenticated", "invalid audience in authorization token claims");
    }
    return;
  }
  if (claims.compute_id === undefined) {
    throw new OperationError("permission_denied", "missing compute_id in authorization token claims");
  }
  if (computeId === null || claims.compute_id !== computeId) {
    throw new OperationError("permission_denied", "invalid compute ID in authorization token claims");
  }
}
