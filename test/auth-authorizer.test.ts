// The JWT authorizer on its own: the verdict (OperationError kind, HTTP status, Neon's texts) for
// every row of the matrix, with EdDSA and RS256 keys, and the launch-time rules about keys.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createAuthorizer } from "../src/api/auth/index.js";
import { VerifiedTokens } from "../src/api/auth/verified-tokens.js";
import { httpStatusOf } from "../src/api/rest/error-status.js";
import { OperationError } from "../src/errors/operation-error.js";
import { authMatrix, COMPUTE_ID, tokenKit } from "./support/grpc-tokens.js";

const HTTP = { invalid_argument: 400, unauthenticated: 401, permission_denied: 403 } as const;

test("JWT matrix: each case gets its kind, status and message (EdDSA and RS256)", async () => {
  const kit = await tokenKit();
  const authorizer = await createAuthorizer({ jwks: kit.jwks, computeId: COMPUTE_ID, requireAuth: true });
  for (const key of [kit.ed, kit.rsa]) {
    for (const c of await authMatrix(kit, key)) {
      if (c.kind === null) {
        await authorizer.verify(c.header);
        continue;
      }
      await assert.rejects(authorizer.verify(c.header), (err) => {
        assert.ok(err instanceof OperationError, `${c.name}: ${String(err)}`);
        assert.equal(err.kind, c.kind, c.name);
        assert.equal(httpStatusOf(err), HTTP[c.kind as keyof typeof HTTP], c.name);
        if (c.message) assert.match(err.message, c.message, c.name);
        return true;
      });
    }
  }
});

test("a token is verified against the key of its algorithm, whatever the key order", async () => {
  const kit = await tokenKit();
  const rsaFirst = await createAuthorizer({
    jwks: { keys: [kit.rsa.publicJwk, kit.ed.publicJwk] },
    computeId: COMPUTE_ID,
    requireAuth: false,
  });
  await rsaFirst.verify(`Bearer ${await kit.sign(kit.ed, { compute_id: COMPUTE_ID })}`);
  await rsaFirst.verify(`bearer ${await kit.sign(kit.rsa, { compute_id: COMPUTE_ID })}`);
  // An RSA-only key set must not accept an Ed25519 token.
  const rsaOnly = await createAuthorizer({
    jwks: { keys: [kit.rsa.publicJwk] },
    computeId: COMPUTE_ID,
    requireAuth: false,
  });
  await assert.rejects(rsaOnly.verify(`Bearer ${await kit.sign(kit.ed, { compute_id: COMPUTE_ID })}`), {
    kind: "unauthenticated",
  });
});

test("no jwks: authorization is off, unless --require-auth, which refuses to start", async () => {
  const off = await createAuthorizer({ jwks: undefined, computeId: COMPUTE_ID, requireAuth: false });
  assert.equal(off, null, "no authorizer: the access policy checks no tokens");
  await assert.rejects(createAuthorizer({ jwks: undefined, computeId: COMPUTE_ID, requireAuth: true }), {
    message: "--require-auth given but compute_ctl_config.jwks has no keys",
  });
});

test("an explicitly empty key set refuses every token (401), as Neon does; no header is 400", async () => {
  const kit = await tokenKit();
  for (const requireAuth of [false, true]) {
    const none = await createAuthorizer({ jwks: { keys: [] }, computeId: COMPUTE_ID, requireAuth });
    await assert.rejects(none.verify(undefined), { kind: "invalid_argument" });
    await assert.rejects(none.verify(`Bearer ${await kit.sign(kit.ed, { compute_id: COMPUTE_ID })}`), {
      kind: "unauthenticated",
      message: /has no keys/,
    });
  }
});

test("a token with an unknown scope is 401, never checked as a compute token", async () => {
  const kit = await tokenKit();
  const auth = await createAuthorizer({
    jwks: { keys: [kit.ed.publicJwk] },
    computeId: COMPUTE_ID,
    requireAuth: false,
  });
  for (const scope of ["compute_ctl:superuser", "", 7]) {
    const token = await kit.sign(kit.ed, { scope, compute_id: COMPUTE_ID });
    await assert.rejects(auth.verify(`Bearer ${token}`), { kind: "unauthenticated", message: /scope/ });
  }
  const numericId = await kit.sign(kit.ed, { compute_id: 42 });
  await assert.rejects(auth.verify(`Bearer ${numericId}`), { kind: "unauthenticated" });
  await auth.verify(`Bearer ${await kit.sign(kit.ed, { compute_id: COMPUTE_ID })}`);
});

test("key set problems are launch errors naming the key; private members are ignored", async () => {
  const kit = await tokenKit();
  await assert.rejects(
    createAuthorizer({
      jwks: { keys: [kit.ed.publicJwk, { kty: "oct", k: "c2VjcmV0" }] },
      computeId: COMPUTE_ID,
      requireAuth: false,
    }),
    /jwks\.keys\[1\]: unsupported key type oct/,
  );
  // A JWKS that (wrongly) carries the private half still verifies, with the public half only.
  const { exportJWK } = await import("jose");
  const privateJwk = { ...(await exportJWK(kit.ed.privateKey)), alg: "EdDSA", kid: kit.ed.publicJwk.kid };
  assert.ok(privateJwk.d);
  const authorizer = await createAuthorizer({
    jwks: { keys: [privateJwk] },
    computeId: COMPUTE_ID,
    requireAuth: true,
  });
  await authorizer.verify(`Bearer ${await kit.sign(kit.ed, { compute_id: COMPUTE_ID })}`);
});

test("a kid selects its key, an unknown kid is refused without trying others, tokens over 8 KiB are refused", async () => {
  const kit = await tokenKit();
  const authorizer = await createAuthorizer({ jwks: kit.jwks, computeId: COMPUTE_ID, requireAuth: true });
  const { SignJWT } = await import("jose");
  const signed = (kid: string | undefined, claims: Record<string, unknown> = {}) =>
    new SignJWT({ compute_id: COMPUTE_ID, ...claims })
      .setProtectedHeader({ alg: "EdDSA", ...(kid ? { kid } : {}) })
      .setExpirationTime("1h")
      .sign(kit.ed.privateKey);
  await authorizer.verify(`Bearer ${await signed("ed-1")}`);
  await authorizer.verify(`Bearer ${await signed(undefined)}`);
  // Signed by the Ed25519 key, but naming the RSA key: only that key is tried.
  await assert.rejects(authorizer.verify(`Bearer ${await signed("rsa-1")}`), {
    kind: "unauthenticated",
    message: "failed to verify authorization token",
  });
  await assert.rejects(authorizer.verify(`Bearer ${await signed("nobody")}`), {
    kind: "unauthenticated",
    message: /unknown key id/,
  });
  const big = await signed("ed-1", { padding: "x".repeat(9000) });
  await assert.rejects(authorizer.verify(`Bearer ${big}`), {
    kind: "unauthenticated",
    message: /longer than 8192/,
  });
  const justUnder = await signed("ed-1", { padding: "x".repeat(5500) });
  assert.ok(justUnder.length < 8192);
  await authorizer.verify(`Bearer ${justUnder}`);
});

test("verified tokens are remembered until their exp (plus tolerance) or the TTL, bounded in number", () => {
  const cache = new VerifiedTokens(2, 60_000);
  const now = 1_000_000;
  cache.add("a", now + 5_000, now);
  assert.equal(cache.has("a", now + 4_999), true);
  assert.equal(cache.has("a", now + 5_000), false, "gone once the token would no longer verify");
  cache.add("b", undefined, now);
  assert.equal(cache.has("b", now + 59_999), true);
  assert.equal(cache.has("b", now + 60_000), false, "no exp: kept for the TTL only");
  cache.add("expired", now - 1, now);
  assert.equal(cache.has("expired", now), false);
  cache.add("c", undefined, now);
  cache.add("d", undefined, now);
  cache.add("e", undefined, now);
  assert.equal(cache.size, 2);
  assert.deepEqual(
    ["c", "d", "e"].map((t) => cache.has(t, now)),
    [false, true, true],
    "the oldest entry is evicted",
  );
});

test("a remembered token still passes; a rejected one is checked (and rejected) every time", async () => {
  const kit = await tokenKit();
  const authorizer = await createAuthorizer({ jwks: kit.jwks, computeId: COMPUTE_ID, requireAuth: true });
  const good = `Bearer ${await kit.sign(kit.ed, { compute_id: COMPUTE_ID })}`;
  await authorizer.verify(good);
  await authorizer.verify(good);
  const wrong = `Bearer ${await kit.sign(kit.ed, { compute_id: "another-compute" })}`;
  for (let i = 0; i < 2; i++) await assert.rejects(authorizer.verify(wrong), { kind: "permission_denied" });
});

test("remembered(): only a token that passed verify, and never one that failed", async () => {
  const kit = await tokenKit();
  const authorizer = await createAuthorizer({ jwks: kit.jwks, computeId: COMPUTE_ID, requireAuth: true });
  const good = `Bearer ${await kit.sign(kit.ed, { compute_id: COMPUTE_ID })}`;
  const other = `Bearer ${await kit.sign(kit.ed, { compute_id: "another" })}`;
  assert.equal(authorizer.remembered(good), false, "not before it was verified");
  await authorizer.verify(good);
  assert.equal(authorizer.remembered(good), true);
  await assert.rejects(authorizer.verify(other));
  assert.equal(authorizer.remembered(other), false);
  assert.equal(authorizer.remembered(undefined), false);
});
