// JWT authorization shared by the REST API and gRPC over TCP. Keys come from the launch-time
// `compute_ctl_config.jwks` and never change afterwards. As in Neon, a key set given with no
// keys (`"jwks": {"keys": []}`) refuses every token (401); a launch config without `jwks` at all
// turns token checks off (the local default works with plain curl); `--require-auth` forbids that.
import { errors, type JWK, type JWTPayload, jwtVerify } from "jose";
import { OperationError } from "../../compute/operation-error.js";
import { checkClaims } from "./claims.js";
import { importVerificationKeys, type VerificationKey } from "./verification-keys.js";
import { VerifiedTokens } from "./verified-tokens.js";

export interface AuthorizerOptions {
  /** Absent: no token checks. An empty key set: every token is refused. */
  jwks: { keys: readonly JWK[] } | undefined;
  /** `--compute-id`: what non-admin tokens must carry as `compute_id`. */
  computeId: string | null;
  /** `--require-auth`: refuse to run without keys. */
  requireAuth: boolean;
}

export interface Authorizer {
  /** False when no keys are configured: every request passes. */
  readonly enabled: boolean;
  /**
   * Checks an `Authorization` header value. Throws OperationError: `invalid_argument` for a
   * missing or non-Bearer header, `unauthenticated` for a token that does not verify or an admin
   * token without the compute audience, `permission_denied` for a token of another compute.
   */
  verify(authorization: string | undefined): Promise<void>;
}

/** Whether the launch config turns authorization on: it has a key set, even an empty one. */
export function authEnabled(jwks: { keys: readonly unknown[] } | undefined): boolean {
  return jwks !== undefined;
}

// jsonwebtoken's default leeway, which Neon uses for `exp`.
const CLOCK_TOLERANCE_SECONDS = 60;
const BEARER = /^Bearer +(\S+)\s*$/i;
export const EMPTY_KEY_SET =
  "failed to verify authorization token: compute_ctl_config.jwks of the launch config has no keys";

function bearerToken(authorization: string | undefined): string {
  const match = authorization === undefined ? null : BEARER.exec(authorization);
  if (!match) throw new OperationError("invalid_argument", "invalid authorization token");
  return match[1];
}

async function verifyToken(token: string, keys: readonly VerificationKey[]): Promise<JWTPayload> {
  let expired = false;
  for (const { key, alg } of keys) {
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: [alg],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      });
      return payload;
    } catch (err) {
      // Only a correctly signed token can be expired; remember it for a precise message.
      if (err instanceof errors.JWTExpired) expired = true;
    }
  }
  throw new OperationError(
    "unauthenticated",
    expired ? "failed to verify authorization token: token expired" : "failed to verify authorization token",
  );
}

export async function createAuthorizer(opts: AuthorizerOptions): Promise<Authorizer> {
  if (!opts.jwks) {
    if (opts.requireAuth) throw new Error("--require-auth given but compute_ctl_config.jwks has no keys");
    return { enabled: false, verify: async () => {} };
  }
  if (opts.jwks.keys.length === 0) {
    return {
      enabled: true,
      async verify(authorization) {
        bearerToken(authorization);
        throw new OperationError("unauthenticated", EMPTY_KEY_SET);
      },
    };
  }
  const keys = await importVerificationKeys(opts.jwks.keys);
  const verified = new VerifiedTokens();
  return {
    enabled: true,
    async verify(authorization) {
      const token = bearerToken(authorization);
      if (verified.has(token)) return;
      const claims = await verifyToken(token, keys);
      checkClaims(claims, opts.computeId);
      const expiresAtMs =
        claims.exp === undefined ? undefined : (claims.exp + CLOCK_TOLERANCE_SECONDS) * 1000;
      verified.add(token, expiresAtMs);
    },
  };
}
