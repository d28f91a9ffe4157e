// No secret reaches a log. One agent gets every kind of secret the system handles - role
// passwords as md5 hashes and SCRAM verifiers (at launch and through /configure), the storage
// auth token, the control-plane token, JWTs in Authorization headers (valid and forged), a
// password in the -C connstr, a password in a failing SQL statement that Postgres echoes -
// then its log, and every agent log of this test run (test/support/agent.ts LOG_DIR), is
// grepped for each of them.
import assert from "node:assert/strict";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import pg from "pg";
import { LOG_DIR, minimalSpec, REPO, startAgent } from "./support/agent.js";
import { freePort } from "./support/ports.js";

function md5Password(password: string, role: string): string {
  return `md5${createHash("md5")
    .update(password + role)
    .digest("hex")}`;
}

function scramVerifier(password: string): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, 4096, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  const stored = createHash("sha256").update(clientKey).digest();
  return `SCRAM-SHA-256$4096:${salt.toString("base64")}$${stored.toString("base64")}:${serverKey.toString("base64")}`;
}

const COMPUTE_ID = "compute-redaction";

test("no password, verifier or token appears in any agent log", async (t) => {
  const md5 = md5Password("md5-plain-pw", "alice");
  const scram = scramVerifier("scram-plain-pw");
  const scramLater = scramVerifier("scram-later-pw");
  const storageToken = `storage-${randomBytes(12).toString("hex")}`;
  const controlPlaneToken = `cplane-${randomBytes(12).toString("hex")}`;
  const connstrPassword = `connpw${randomBytes(8).toString("hex")}`;
  const sqlPassword = `sqlpw${randomBytes(8).toString("hex")}`;
  const badSpecSecret = `badspec-${randomBytes(8).toString("hex")}`;

  const { publicKey, privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  const jwk = { ...(await exportJWK(publicKey)), alg: "EdDSA", use: "sig", kid: "test" };
  const jwt = await new SignJWT({ compute_id: COMPUTE_ID })
    .setProtectedHeader({ alg: "EdDSA" })
    .setExpirationTime("1h")
    .sign(privateKey);
  const other = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  const forged = await new SignJWT({ compute_id: COMPUTE_ID })
    .setProtectedHeader({ alg: "EdDSA" })
    .setExpirationTime("1h")
    .sign(other.privateKey);
  const bearer = { authorization: `Bearer ${jwt}` };

  const spec = minimalSpec({ storage_auth_token: storageToken });
  (spec.cluster as Record<string, unknown>).roles = [
    { name: "alice", encrypted_password: md5, options: null },
    { name: "bob", encrypted_password: scram, options: null },
  ];
  (spec.cluster as Record<string, unknown>).databases = [{ name: "alicedb", owner: "alice", options: null }];

  // A control plane that hands out the config only with the right token.
  const seenTokens: string[] = [];
  const cplane = http.createServer((req, res) => {
    seenTokens.push(req.headers.authorization ?? "");
    if (req.headers.authorization !== `Bearer ${controlPlaneToken}`) {
      res.writeHead(401).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: "attached", spec, compute_ctl_config: { jwks: { keys: [jwk] } } }));
  });
  await new Promise<void>((r) => cplane.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => cplane.close(() => r())));

  const pgPort = await freePort();
  const agent = await startAgent({
    name: "redaction",
    // debug: the widest log the agent writes (statements, plans) must still be clean.
    env: { NEON_CONTROL_PLANE_TOKEN: controlPlaneToken, LOG_LEVEL: "debug" },
    args: [
      "-C",
      `postgresql://postgres:${connstrPassword}@127.0.0.1:${pgPort}/postgres`,
      "-p",
      `http://127.0.0.1:${(cplane.address() as AddressInfo).port}`,
      "-i",
      COMPUTE_ID,
    ],
  });
  t.after(() => agent.stop());

  const status = async () =>
    (await (await agent.get("/status", { headers: bearer })).json()) as { status: string };
  const deadline = Date.now() + 30_000;
  while ((await status()).status !== "running") {
    assert.ok(Date.now() < deadline, `not running:\n${agent.logs().slice(-3000)}`);
    await sleep(50);
  }
  assert.deepEqual(seenTokens, [`Bearer ${controlPlaneToken}`], "the config came from the control plane");

  // JWTs: accepted, forged, malformed.
  assert.equal((await agent.get("/status", { headers: bearer })).status, 200);
  assert.equal((await agent.get("/status", { headers: { authorization: `Bearer ${forged}` } })).status, 401);
  assert.equal((await agent.get("/status", { headers: { authorization: `Token ${jwt}` } })).status, 400);
  // A new password through the API, and an invalid spec carrying a secret.
  const spec2 = structuredClone(spec);
  (
    (spec2.cluster as Record<string, unknown>).roles as { encrypted_password: string }[]
  )[1].encrypted_password = scramLater;
  const reconf = await agent.post(
    "/configure",
    { spec: spec2 },
    { headers: { ...bearer, "content-type": "application/json" } },
  );
  assert.equal(reconf.status, 200, await reconf.clone().text());
  const bad = structuredClone(spec);
  (bad.cluster as Record<string, unknown>).roles = [{ name: 42, encrypted_password: badSpecSecret }];
  const rejected = await agent.post(
    "/configure",
    { spec: bad },
    { headers: { ...bearer, "content-type": "application/json" } },
  );
  assert.equal(rejected.status, 422); // a spec of the wrong shape, as Neon answers it
  // A user's failing statement with a password: Postgres logs it (ERROR + STATEMENT).
  const client = new pg.Client({
    host: "127.0.0.1",
    port: pgPort,
    user: "postgres",
    password: connstrPassword,
    database: "postgres",
  });
  await client.connect();
  try {
    await assert.rejects(client.query(`ALTER ROLE alice PASSWORD '${sqlPassword}' NOT_AN_OPTION`));
    // The roles really carry the spec's secrets (the test is not vacuous).
    const { rows } = await client.query<{ rolname: string; rolpassword: string }>(
      "SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN ('alice', 'bob') ORDER BY 1",
    );
    assert.deepEqual(
      rows.map((r) => r.rolpassword),
      [md5, scramLater],
    );
  } finally {
    await client.end();
  }
  // Wait for Postgres's echo of the failed statement (masked) to reach the agent's log.
  const echoDeadline = Date.now() + 60_000;
  while (!/PASSWORD '\*\*\*'/.test(agent.logs())) {
    assert.ok(Date.now() < echoDeadline, "Postgres's echo of the statement never reached the log");
    await sleep(25);
  }
  assert.equal((await agent.post("/terminate", undefined, { headers: bearer })).status, 200);
  await agent.exited;

  const secrets: Record<string, string> = {
    "md5 password hash": md5,
    "md5 hex digest": md5.slice(3),
    "SCRAM verifier": scram,
    "SCRAM stored key": scram.split("$")[2].split(":")[0],
    "SCRAM verifier from /configure": scramLater,
    storage_auth_token: storageToken,
    "control-plane token": controlPlaneToken,
    JWT: jwt,
    "JWT signature": jwt.split(".")[2],
    "forged JWT": forged,
    "password in -C": connstrPassword,
    "password in SQL": sqlPassword,
    "secret in a rejected spec": badSpecSecret,
    // Secrets of the Neon-contract tests (neon-full-spec.test.ts), when their logs are here.
    "pgbouncer admin password": "pgbouncer-admin-secret-1",
    endpoint_storage_token: "endpoint-storage-secret",
  };
  // The example specs' secrets must not show up in any log of the run either.
  for (const file of readdirSync(path.join(REPO, "examples")).filter((f) => f.endsWith(".json"))) {
    const text = readFileSync(path.join(REPO, "examples", file), "utf8");
    for (const m of text.matchAll(/"(?:encrypted_password|storage_auth_token)":\s*"([^"]{8,})"/g)) {
      secrets[`${m[0].split(":")[0]} of examples/${file}`] = m[1];
    }
  }

  const logs: Record<string, string> = { "this agent": agent.logs() };
  if (existsSync(LOG_DIR)) {
    for (const f of readdirSync(LOG_DIR))
      logs[path.join(LOG_DIR, f)] = readFileSync(path.join(LOG_DIR, f), "utf8");
  }
  assert.ok(agent.logs().length > 2000, "the agent logged");
  assert.match(agent.logs(), /PASSWORD '\*\*\*'/, "Postgres's echo of the statement is there, masked");
  const leaks: string[] = [];
  for (const [where, text] of Object.entries(logs)) {
    for (const [what, secret] of Object.entries(secrets)) {
      const at = text.indexOf(secret);
      if (at >= 0)
        leaks.push(
          `${what} in ${where}: ...${text.slice(Math.max(0, at - 200), at + secret.length + 50)}...`,
        );
    }
  }
  assert.deepEqual(leaks, []);
});

test("the logger masks secrets at any depth and in free text, and keeps everything else", async (t) => {
  const { createLogger, maskSecrets } = await import("../src/log/logger.js");
  const { closeSync, mkdtempSync, openSync, rmSync } = await import("node:fs");
  const os = await import("node:os");
  const dir = mkdtempSync(path.join(os.tmpdir(), "cct-log-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "log.json");
  const fd = openSync(file, "w");
  const log = createLogger({ destination: fd, level: "debug" });
  const scram = scramVerifier("deep-pw");
  const md5 = md5Password("deep-md5-pw", "carol");
  const jwt = "eyJhbGciOiJFZERTQSJ9.eyJjb21wdXRlX2lkIjoiYyJ9.c2lnbmF0dXJlLXNlY3JldA";
  log.info(
    {
      body: {
        spec: {
          cluster: { roles: [{ name: "carol", encrypted_password: scram }] },
          storage_auth_token: "deep-token-1",
        },
      },
      request: { headers: { Authorization: "Bearer deep-bearer-2", "x-request-id": "keep-me" } },
      source: { kind: "primary", connstring: "host=p user=r password=deep-conn-3" },
      note: `hash ${md5} and ${jwt} in text`,
      err: new Error("connect postgresql://u:deep-url-4@h/db failed"),
    },
    "deep",
  );
  // A child logger's bindings and top-level secret fields go through the same masking.
  log
    .child({ component: "c", connstr: "postgresql://u:child-pw-5@h/db", nested: { token: "child-token-6" } })
    .info({ password: "top-pw-7", authorization: "Bearer top-bearer-8", path: "/status" }, "child");
  closeSync(fd);
  const text = readFileSync(file, "utf8");
  const secrets = [scram, md5, jwt, "deep-token-1", "deep-bearer-2", "deep-conn-3", "deep-url-4"];
  for (const secret of [...secrets, "child-pw-5", "child-token-6", "top-pw-7", "top-bearer-8"]) {
    assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  }
  const [first, second] = text.trim().split("\n");
  const child = JSON.parse(second);
  assert.deepEqual(
    [child.component, child.connstr, child.nested.token, child.password, child.authorization, child.path],
    ["c", "***", "***", "***", "***", "/status"],
  );
  const entry = JSON.parse(first);
  assert.equal(entry.body.spec.cluster.roles[0].name, "carol", "non-secret fields stay");
  assert.equal(entry.body.spec.cluster.roles[0].encrypted_password, "***");
  assert.equal(entry.request.headers["x-request-id"], "keep-me");
  assert.equal(entry.source.kind, "primary");
  assert.equal(entry.note, "hash md5*** and ***jwt*** in text");
  assert.match(entry.err.message, /postgresql:\/\/u:\*\*\*@h\/db/);
  // Free-text masking on its own.
  assert.equal(maskSecrets("x PASSWORD 'a''b' y"), "x PASSWORD '***' y");
  assert.equal(maskSecrets(`v=${scram};`), "v=SCRAM-SHA-256$***;");
  assert.equal(maskSecrets("dbname=x password=hunter2 user=y"), "dbname=x password=*** user=y");
  assert.equal(maskSecrets("PassWord = 'x y' z"), "PassWord = *** z", "any case");
  // Text none of the patterns can match comes back unchanged (the same string).
  for (const plain of ["/autoscaling_metrics", "request", "GET", "starting compute on 127.0.0.1:5432"])
    assert.equal(maskSecrets(plain), plain);
});
