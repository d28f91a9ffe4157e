// bin/endpoint-storage, the server computes keep their LFC state in: Neon's contract (PUT, GET,
// DELETE on /{tenant}/{timeline}/{endpoint}/{key}; EdDSA JWT claims checked against the path,
// GET may read another endpoint; 400 for an undecodable token or an upload over the limit, 401
// for a token of another path), the static-token mode, and hostile paths that must touch no file.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { type RunningStorage, startStorage } from "./support/endpoint-storage.js";

const TENANT = "b0554b632bd4d547a63b86c3630317e8";
const TIMELINE = "2414a61ffc94e428f14b5758fe308e13";
const KEY_PATH = (endpoint = "ep-one") => `/${TENANT}/${TIMELINE}/${endpoint}/lfc_state`;

/** A raw request line, so that `..` and odd encodings reach the server as written. */
function rawRequest(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let data = "";
    sock.on("data", (d) => {
      data += d.toString();
    });
    sock.on("end", () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0)));
    sock.on("error", reject);
    const lines = [`${method} ${target} HTTP/1.1`, "Host: x", "Connection: close", "Content-Length: 3"];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    sock.end(`${lines.join("\r\n")}\r\n\r\nabc`);
  });
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

describe("JWT mode (Neon's control-plane tokens)", () => {
  let storage: RunningStorage;
  let sign: (claims: Record<string, unknown>, exp?: string) => Promise<string>;

  before(async () => {
    const { publicKey, privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    sign = (claims, exp = "5m") =>
      new SignJWT(claims).setProtectedHeader({ alg: "EdDSA" }).setExpirationTime(exp).sign(privateKey);
    storage = await startStorage({ publicKeyPem: await exportSPKI(publicKey) }, [
      "--max-upload-bytes",
      "4096",
    ]);
  });
  after(() => storage?.stop());

  const claims = (endpoint = "ep-one") => ({
    tenant_id: TENANT,
    timeline_id: TIMELINE,
    endpoint_id: endpoint,
  });
  const call = async (method: string, p: string, token: string | null, body?: Buffer) =>
    fetch(`${storage.url}${p}`, {
      method,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      body,
    });

  test("PUT, GET and DELETE round trip; GET of a missing key is 404", async () => {
    const token = await sign(claims());
    assert.equal((await call("GET", KEY_PATH(), token)).status, 404);
    const body = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]);
    assert.equal((await call("PUT", KEY_PATH(), token, body)).status, 200);
    const got = await call("GET", KEY_PATH(), token);
    assert.equal(got.status, 200);
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), body);
    assert.equal((await call("DELETE", KEY_PATH(), token)).status, 200);
    assert.equal((await call("GET", KEY_PATH(), token)).status, 404);
    assert.equal((await fetch(`${storage.url}/status`)).status, 200);
  });

  test("tokens: missing or undecodable 400, another path 401, GET of another endpoint allowed", async () => {
    assert.equal((await call("PUT", KEY_PATH(), null, Buffer.from("x"))).status, 400);
    assert.equal((await call("PUT", KEY_PATH(), "not-a-jwt", Buffer.from("x"))).status, 400);
    const other = await sign({ ...claims(), tenant_id: "0".repeat(32) });
    assert.equal((await call("PUT", KEY_PATH(), other, Buffer.from("x"))).status, 401);
    const expired = await sign(claims(), "-1m");
    assert.equal((await call("GET", KEY_PATH(), expired)).status, 400);
    const forgery = await new SignJWT(claims())
      .setProtectedHeader({ alg: "EdDSA" })
      .setExpirationTime("5m")
      .sign((await generateKeyPair("EdDSA", { crv: "Ed25519" })).privateKey);
    assert.equal((await call("GET", KEY_PATH(), forgery)).status, 400);
    // ep-two may read ep-one's state (a replica prewarming from its primary) but not write it.
    const two = await sign(claims("ep-two"));
    assert.equal((await call("PUT", KEY_PATH("ep-one"), await sign(claims()), Buffer.from("s"))).status, 200);
    assert.equal((await call("GET", KEY_PATH("ep-one"), two)).status, 200);
    assert.equal((await call("PUT", KEY_PATH("ep-one"), two, Buffer.from("x"))).status, 401);
    assert.equal((await call("DELETE", KEY_PATH("ep-one"), two)).status, 401);
  });

  test("an upload over the limit is refused with Neon's message and leaves nothing", async () => {
    const token = await sign(claims("ep-big"));
    const res = await call("PUT", KEY_PATH("ep-big"), token, Buffer.alloc(5000));
    assert.equal(res.status, 400);
    assert.match(await res.text(), /File size 5000 exceeds max 4096/);
    assert.equal((await call("GET", KEY_PATH("ep-big"), token)).status, 404);
    assert.deepEqual(filesUnder(path.join(storage.dataDir, TENANT, TIMELINE, "ep-big")), []);
  });

  test("hostile paths are refused before any file is touched", async () => {
    const before = filesUnder(storage.dataDir).sort();
    const port = Number(new URL(storage.url).port);
    const auth = { authorization: `Bearer ${await sign(claims())}` };
    const hostile = [
      `/${TENANT}/${TIMELINE}/ep-one/../../../../etc/passwd`,
      `/${TENANT}/${TIMELINE}/ep-one/%2e%2e/%2e%2e/x`,
      `/${TENANT}/${TIMELINE}/ep-one/a%2fb`,
      `/${TENANT}/${TIMELINE}/../ep-one/lfc_state`,
      `/${TENANT}/${TIMELINE}/ep-one/.hidden`,
      `/${TENANT}/${TIMELINE}/ep%00one/lfc_state`,
      `/${TENANT.toUpperCase()}/${TIMELINE}/ep-one/lfc_state`,
      `/../${TIMELINE}/ep-one/lfc_state`,
      `/${TENANT}/${TIMELINE}/ep-one`,
      `/${TENANT}/${TIMELINE}/ep-one/`,
      `/${TENANT}/${TIMELINE}/ep-one/a/b/c/d/e/f/g/h/i`,
      `//etc/passwd/x/y`,
    ];
    for (const target of hostile) {
      for (const method of ["PUT", "GET", "DELETE"]) {
        assert.equal(await rawRequest(port, method, target, auth), 400, `${method} ${target}`);
      }
    }
    assert.deepEqual(filesUnder(storage.dataDir).sort(), before);
  });
});

describe("static token mode", () => {
  let storage: RunningStorage;
  const token = "static-token-0123456789abcdef";
  before(async () => {
    storage = await startStorage({ token });
  });
  after(() => storage?.stop());

  test("the token authorises any path; another token is 401, none is 400", async () => {
    const url = `${storage.url}${KEY_PATH("ep-x")}`;
    assert.equal(
      (await fetch(url, { method: "PUT", body: "abc", headers: { authorization: `Bearer ${token}` } }))
        .status,
      200,
    );
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${token}x` } })).status, 401);
    assert.equal((await fetch(url)).status, 400);
    const ok = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(await ok.text(), "abc");
    assert.ok(!storage.logs().includes(token), "the token is never logged");
  });
});
