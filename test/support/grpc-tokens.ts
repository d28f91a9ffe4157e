// JWT fixtures for the authorization matrix: an Ed25519 and an RSA key in the JWKS, a stranger
// key that is not, and the tokens each matrix row needs, signed with jose.
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from "jose";

export const COMPUTE_ID = "compute-test-1";

export interface SigningKey {
  alg: "EdDSA" | "RS256";
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function signingKey(alg: "EdDSA" | "RS256", kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), alg, kid, use: "sig" } };
}

export interface TokenKit {
  jwks: { keys: JWK[] };
  ed: SigningKey;
  rsa: SigningKey;
  /** Not in the JWKS. */
  stranger: SigningKey;
  /** Signs with the key's kid and, unless `claims` has an `exp` key, a one-hour expiry. */
  sign(key: SigningKey, claims: JWTPayload): Promise<string>;
}

export async function tokenKit(): Promise<TokenKit> {
  const [ed, rsa, stranger] = await Promise.all([
    signingKey("EdDSA", "ed-1"),
    signingKey("RS256", "rsa-1"),
    signingKey("EdDSA", "ed-stranger"),
  ]);
  return {
    jwks: { keys: [ed.publicJwk, rsa.publicJwk] },
    ed,
    rsa,
    stranger,
    // An hour's expiry unless the claims say otherwise (`exp: undefined`: none at all).
    sign: (key, claims) => {
      const jwt = new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.publicJwk.kid });
      return ("exp" in claims ? jwt : jwt.setExpirationTime("1h")).sign(key.privateKey);
    },
  };
}

/** One row of the matrix: the Authorization header and the verdict REST and gRPC must give. */
export interface AuthCase {
  name: string;
  header: string | undefined;
  /** null: allowed. */
  kind: "invalid_argument" | "unauthenticated" | "permission_denied" | null;
  message?: RegExp;
}

export async function authMatrix(kit: TokenKit, key: SigningKey): Promise<AuthCase[]> {
  const now = Math.floor(Date.now() / 1000);
  const bearer = async (claims: JWTPayload, k = key) => `Bearer ${await kit.sign(k, claims)}`;
  const tag = `(${key.alg})`;
  return [
    {
      name: `no header ${tag}`,
      header: undefined,
      kind: "invalid_argument",
      message: /invalid authorization token/,
    },
    { name: `not Bearer ${tag}`, header: "Basic dXNlcjpwYXNz", kind: "invalid_argument" },
    {
      name: `garbage token ${tag}`,
      header: "Bearer not-a-jwt",
      kind: "unauthenticated",
      message: /failed to verify/,
    },
    {
      name: `wrong signature ${tag}`,
      header: await bearer({ compute_id: COMPUTE_ID }, kit.stranger),
      kind: "unauthenticated",
    },
    {
      name: `expired ${tag}`,
      header: await bearer({ compute_id: COMPUTE_ID, exp: now - 3600 }),
      kind: "unauthenticated",
      message: /expired/,
    },
    {
      name: `no exp ${tag}`,
      header: await bearer({ compute_id: COMPUTE_ID, exp: undefined }),
      kind: "unauthenticated",
      message: /no exp/,
    },
    {
      name: `not yet valid ${tag}`,
      header: await bearer({ compute_id: COMPUTE_ID, nbf: now + 3600 }),
      kind: "unauthenticated",
      message: /not yet valid/,
    },
    {
      name: `nbf within the clock skew ${tag}`,
      header: await bearer({ compute_id: COMPUTE_ID, nbf: now + 30 }),
      kind: null,
    },
    {
      name: `expired within the clock skew ${tag}`,
      header: await bearer({ compute_id: COMPUTE_ID, exp: now - 30 }),
      kind: null,
    },
    {
      name: `admin without audience ${tag}`,
      header: await bearer({ scope: "compute_ctl:admin" }),
      kind: "unauthenticated",
      message: /missing audience in authorization token claims/,
    },
    {
      name: `admin with wrong audience ${tag}`,
      header: await bearer({ scope: "compute_ctl:admin", aud: ["pageserver"] }),
      kind: "unauthenticated",
      message: /invalid audience in authorization token claims/,
    },
    {
      name: `admin ok ${tag}`,
      header: await bearer({ scope: "compute_ctl:admin", aud: ["compute"] }),
      kind: null,
    },
    {
      name: `compute_id ok ${tag}`,
      header: await bearer({ compute_id: COMPUTE_ID, exp: now + 3600 }),
      kind: null,
    },
    {
      name: `compute_id wrong ${tag}`,
      header: await bearer({ compute_id: "another-compute" }),
      kind: "permission_denied",
      message: /invalid compute ID in authorization token claims/,
    },
    {
      name: `compute_id missing ${tag}`,
      header: await bearer({ sub: "someone" }),
      kind: "permission_denied",
      message: /missing compute_id in authorization token claims/,
    },
  ];
}
