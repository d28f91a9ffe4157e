// Turns the launch-time JWK set into verification keys, each bound to the one algorithm it may
// verify (a token's `alg` header must match its key's, as in Neon's jsonwebtoken setup).
import { type CryptoKey, importJWK, type JWK } from "jose";

export interface VerificationKey {
  readonly alg: string;
  readonly key: CryptoKey | Uint8Array;
  /** The JWK's `kid`, if it has one: a token naming a kid is verified with that key only. */
  readonly kid: string | undefined;
  /** Position in `compute_ctl_config.jwks.keys`, for error messages. */
  readonly index: number;
}

const EC_ALGORITHMS: Record<string, string> = { "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" };
const RSA_ALGORITHM = /^(RS|PS)(256|384|512)$/;
// Members of private or symmetric JWKs; a verifier needs none of them and must not hold secrets.
const SECRET_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

function algorithmFor(jwk: JWK, index: number): string {
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return "EdDSA";
  if (jwk.kty === "RSA") return jwk.alg && RSA_ALGORITHM.test(jwk.alg) ? jwk.alg : "RS256";
  if (jwk.kty === "EC" && jwk.crv && EC_ALGORITHMS[jwk.crv]) return EC_ALGORITHMS[jwk.crv];
  throw new Error(
    `compute_ctl_config.jwks.keys[${index}]: unsupported key type ${jwk.kty}` +
      `${jwk.crv ? ` (${jwk.crv})` : ""}; expected OKP Ed25519, RSA or EC P-256/384/521`,
  );
}

export async function importVerificationKeys(keys: readonly JWK[]): Promise<VerificationKey[]> {
  return Promise.all(
    keys.map(async (jwk, index) => {
      const alg = algorithmFor(jwk, index);
      const publicJwk: JWK = { ...jwk };
      for (const member of SECRET_MEMBERS) delete publicJwk[member];
      try {
        return { alg, key: await importJWK(publicJwk, alg), index, kid: jwk.kid };
      } catch (err) {
        throw new Error(`compute_ctl_config.jwks.keys[${index}]: cannot import ${alg} key`, { cause: err });
      }
    }),
  );
}
