// JWT authorization shared by the REST API and gRPC over TCP. Keys come from the launch-time
// `compute_ctl_config.jwks` and never change afterwards. As in Neon, a key set given with no
// keys (`"jwks": {"keys": []}`) refuses every token (401); a launch config without `jwks` at all
// turns token checks off, and then only local clients may change the compute (see the REST
// server and the gRPC call gate); `--require-auth` forbids that.
//
// A token must carry `exp` (as Neon's verifier requires); `nbf` is honoured; both with 60 s of
// clock skew. A `kid` in its header selects the key (an unknown kid is refused without trying the
// others); without one every key of the token's algorithm is tried. Tokens over 8 KiB are
// refused before any signature work.
import { decodeProtectedHeader, errors, type JWK, type JWTPayload, jwtVerify } from "jose";
import { OperationError } from "../../errors/operation-error.js";
import type { Authorizer } from "./access-policy.js";
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

// jsonwebtoken's default leeway, which Neon uses for `exp`.
const CLOCK_TOLERANCE_SECONDS = 60;
/** Far above a real token (a few hundred bytes), far below what costs anything to refuse. */
export const MAX_TOKEN_BYTES = 8 * 1024;
const BEARER = /^Bearer +(\S+)\s*$/i;
export const EMPTY_KEY_SET =
  "failed to verify authorization token: compute_ctl_config.jwks of the launch config has no keys";

function bearerToken(authorization: string | undefined): string {
  const match = authorization === undefined ? null : BEARER.exec(authorization);
  if (!match) throw new OperationError("invalid_argument", "invalid authorization token");
  return match[1];
}

const refused = (why?: string) =>
  new OperationError(
    "unauthenticated",
    why ? `failed to verify authorization token: ${why}` : "failed to verify authorization token",
  );

/** The keys a token may be verified with: those with its `kid`, or all when it names none. */
function candidateKeys(token: string, keys: readonly VerificationKey[]): readonly VerificationKey[] {
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    throw refused();
  }
  if (kid === undefined) return keys;
  const named = keys.filter((k) => k.kid === kid);
  if (named.length === 0) throw refused("unknown key id (kid)");
  return named;
}

async function verifyToken(token: string, keys: readonly VerificationKey[]): Promise<JWTPayload> {
  if (token.length > MAX_TOKEN_BYTES) throw refused(`token longer than ${MAX_TOKEN_BYTES} bytes`);
  // Only a correctly signed token gets a precise reason (expired, not yet valid, no exp).
  let reason: string | undefined;
  for (const { key, alg } of candidateKeys(token, keys)) {
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: [alg],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ["exp"],
      });
      return payload;
    } catch (err) {
      if (err instanceof errors.JWTExpired) reason = "token expired";
      else if (err instanceof errors.JWTClaimValidationFailed && err.claim === "exp")
        reason = "token has no exp (expiry) claim";
      else if (err instanceof errors.JWTClaimValidationFailed && err.claim === "nbf")
        reason = "token not yet valid (nbf)";
    }
  }
  throw refused(reason);
}

/** null without a key set (no token checks); --require-auth makes that an error. */
export async function createAuthorizer(
  opts: AuthorizerOptions & { jwks: { keys: readonly JWK[] } },
): Promise<Authorizer>;
export async function createAuthorizer(opts: AuthorizerOptions): Promise<Authorizer | null>;
export async function createAuthorizer(opts: AuthorizerOptions): Promise<Authorizer | null> {
  if (!opts.jwks) {
    if (opts.requireAuth) throw new Error("--require-auth given but compute_ctl_config.jwks has no keys");
    return null;
  }
  if (opts.jwks.keys.length === 0) {
    return {
      remembered: () => false,
      async verify(authorization) {
        bearerToken(authorization);
        throw new OperationError("unauthenticated", EMPTY_KEY_SET);
      },
    };
  }
  const keys = await importVerificationKeys(opts.jwks.keys);
  const verified = new VerifiedTokens();
  return {
    remembered(authorization) {
      const match = authorization === undefined ? null : BEARER.exec(authorization);
      return match !== null && verified.has(match[1]);
    },
    async verify(authorization) {
      const token = bearerToken(authorization);
      if (verified.has(token)) return;
      const claims = await verifyToken(token, keys);
      checkClaims(claims, opts.computeId);
      // exp is required: an entry never outlives the token.
      verified.add(token, ((claims.exp as number) + CLOCK_TOLERANCE_SECONDS) * 1000);
    },
  };
}
