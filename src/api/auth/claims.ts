// Neon's authorization rules on a verified token's claims (compute_tools authorize.rs): an admin
// token must be meant for computes, any other token must name this compute.
import type { JWTPayload } from "jose";
import { OperationError } from "../../compute/operation-error.js";

export const ADMIN_SCOPE = "compute_ctl:admin";
export const COMPUTE_AUDIENCE = "compute";

export function checkClaims(claims: JWTPayload, computeId: string | null): void {
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
