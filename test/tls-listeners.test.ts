// TLS on the agent's TCP listeners (--tls-cert, --tls-key, --tls-client-ca), against the real
// agent with certificates made by openssl: every protocol on its TLS port (grpc-js with TLS
// credentials, connect-es gRPC and Connect over HTTP/2, Connect and gRPC-Web over HTTP/1.1, REST),
// the unary fast path over TLS, plaintext clients refused at once, the internal port and the Unix
// socket left plaintext; rotation without restart (a new connection gets the new certificate, an
// open stream goes on, a broken replacement keeps the old, the expiry metric follows, SIGHUP);
// mTLS (no certificate, another CA's, the right one) with JWT keys (the token is still required)
// and without (a certified client from another host may change the compute, from a network
// namespace); the plaintext warning; an expired certificate at start is served, logged and
// replaced by the next valid rotation; bad flags and pairs stop the agent before it binds.
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { ComputeService } from "../gen/compute/v1/compute_service_pb.js";
import { ComputeStatus } from "../gen/compute/v1/status_pb.js";
import { type RunningAgent, startAgent } from "./support/agent.js";
import {
  issueCertificate,
  makeCa,
  opensslFingerprint,
  opensslNotAfter,
  type TestCertificate,
} from "./support/certificates.js";
import { grpcJsClient } from "./support/grpc-harness.js";
import { COMPUTE_ID, tokenKit } from "./support/grpc-tokens.js";
import { createNetns, type TestNetns } from "./support/netns.js";
import { tempDir } from "./support/postgres.js";
import { tlsFetch } from "./support/tls-fetch.js";
import { expiryMetric, until } from "./support/tls-probes.js";

const root = tempDir("tls-lst-");
const agents: RunningAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  rmSync(root, { recursive: true, force: true });
});
const ca = makeCa(root, "ca");
const otherCa = makeCa(root, "other-ca");
const certs = path.join(root, "issued");
const client = issueCertificate(ca, certs, { name: "client", usage: "client" });
const stranger = issueCertificate(otherCa, certs, { name: "stranger", usage: "client" });

/** A directory holding tls.crt / tls.key, as a mounted Secret would. */
function secretDir(name: string, pair: TestCertificate): { dir: string; certPath: string; keyPath: string } {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  const certPath = path.join(dir, "tls.crt");
  const keyPath = path.join(dir, "tls.key");
  writeFileSync(certPath, pair.cert);
  writeFileSync(keyPath, pair.key);
  return { dir, certPath, keyPath };
}

/** The fingerprint of the certificate a new TLS connection to `port` is shown. */
function presented(port: number, opts: { cert?: Buffer; key?: Buffer } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: "127.0.0.1", servername: "localhost", ca: ca.pem, ...opts }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? "";
      s.destroy();
      resolve(fp);
    });
    s.once("error", reject);
  });
}

const sslCredentials = (c?: TestCertificate) =>
  c ? grpc.credentials.createSsl(ca.pem, c.key, c.cert) : grpc.credentials.createSsl(ca.pem);

/** A grpc-js Status call; resolves with the error code (0: OK). */
async function grpcJsStatusCode(address: string, credentials: grpc.ChannelCredentials, token?: string) {
  const c = grpcJsClient(address, credentials);
  const md = new grpc.Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  try {
    await new Promise<void>((resolve, reject) =>
      c.status({}, md, { deadline: Date.now() + 30_000 }, (err: grpc.ServiceError | null) =>
        err ? reject(err) : resolve(),
      ),
    );
    return 0;
  } catch (err) {
    return (err as grpc.ServiceError).code;
  } finally {
    c.close();
  }
}

describe("an agent with --tls-cert and --tls-key", () => {
  let agent: RunningAgent;
  let secret: ReturnType<typeof secretDir>;
  const first = issueCertificate(ca, certs, { name: "server-1", days: 5 });
  const baseUrl = () => `https://localhost:${agent.grpcPort}`;

  before(async () => {
    secret = secretDir("secret", first);
    agent = await startAgent({
      name: "tls-listeners",
      // The periodic re-read is an hour away: a rotation seen in this test was seen by the watch.
      args: ["--tls-cert", secret.certPath, "--tls-key", secret.keyPath, "--tls-recheck-s", "3600"],
      tlsClient: { ca: ca.pem },
    });
    agents.push(agent);
    await agent.waitForStatus("empty");
  });

  test("gRPC, Connect and gRPC-Web over HTTP/2 and HTTP/1.1 and REST all work over TLS", async () => {
    // grpc-js, an independent implementation, with TLS credentials.
    assert.equal(await grpcJsStatusCode(`localhost:${agent.grpcPort}`, sslCredentials()), 0);
    const nodeOptions = { ca: ca.pem };
    const transports = {
      "connect-es gRPC, HTTP/2": createGrpcTransport({ baseUrl: baseUrl(), nodeOptions }),
      "Connect, HTTP/2": createConnectTransport({ baseUrl: baseUrl(), httpVersion: "2", nodeOptions }),
      "Connect, HTTP/1.1": createConnectTransport({ baseUrl: baseUrl(), httpVersion: "1.1", nodeOptions }),
      "gRPC-Web, HTTP/1.1": createGrpcWebTransport({ baseUrl: baseUrl(), httpVersion: "1.1", nodeOptions }),
    };
    for (const [name, transport] of Object.entries(transports)) {
      const res = await createClient(ComputeService, transport).status({});
      assert.equal(res.state?.status, ComputeStatus.EMPTY, name);
    }
    // REST on its own TLS port.
    const rest = await agent.get("/status");
    assert.equal(rest.status, 200);
    assert.equal(((await rest.json()) as { status: string }).status, "empty");
  });

  test("unary gRPC over TLS takes the fast path (its answer echoes the request's content type)", async () => {
    const session = http2.connect(baseUrl(), { ca: ca.pem });
    try {
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const req = session.request({
          ":method": "POST",
          ":path": "/compute.v1.ComputeService/Status",
          "content-type": "application/grpc",
          te: "trailers",
        });
        req.on("response", resolve);
        req.on("error", reject);
        req.resume();
        req.end(Buffer.alloc(5));
      });
      assert.equal(headers[":status"], 200);
      // connect-node answers application/grpc+proto; the fast path keeps what the client sent.
      assert.equal(headers["content-type"], "application/grpc");
    } finally {
      session.close();
    }
  });

  test("plaintext clients are refused at once, with a hint, not left waiting", async () => {
    for (const port of [agent.port, agent.grpcPort]) {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        http
          .get({ host: "127.0.0.1", port, path: "/status", agent: false }, (res) => {
            let body = "";
            res.on("data", (d) => {
              body += d;
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          })
          .on("error", reject);
      });
      assert.equal(answer.status, 400, `port ${port}`);
      assert.match(answer.body, /this port requires TLS/);
    }
    // A plaintext HTTP/2 client (grpc-js without TLS): unavailable, not a deadline.
    assert.equal(
      await grpcJsStatusCode(`127.0.0.1:${agent.grpcPort}`, grpc.credentials.createInsecure()),
      Code.Unavailable,
    );
  });

  test("the internal port and the Unix socket stay plaintext", async () => {
    assert.equal((await fetch(`${agent.internalUrl}/status`)).status, 404);
    assert.equal(await grpcJsStatusCode(`unix://${agent.grpcSocket}`, grpc.credentials.createInsecure()), 0);
  });

  test("rotation: the next connection gets the new pair, an open stream goes on, a broken one keeps it", async () => {
    assert.equal(await presented(agent.grpcPort), opensslFingerprint(first.certPath));
    const notAfter1 = opensslNotAfter(first.certPath).getTime() / 1000;
    assert.equal(await expiryMetric(agent, "grpc"), notAfter1);
    assert.equal(await expiryMetric(agent, "external_http"), notAfter1);

    // A stream open across the rotation (connect-es gRPC over HTTP/2 and TLS).
    const streamClient = createClient(
      ComputeService,
      createGrpcTransport({ baseUrl: baseUrl(), nodeOptions: { ca: ca.pem } }),
    );
    const abort = new AbortController();
    let received = 0;
    const stream = (async () => {
      try {
        for await (const _ of streamClient.streamMetrics({ intervalMs: 100 }, { signal: abort.signal }))
          received++;
        return "ended";
      } catch (err) {
        return ConnectError.from(err).code === Code.Canceled ? "cancelled by us" : String(err);
      }
    })();
    await until("the stream's first messages", () => (received >= 2 ? true : undefined));

    const second = issueCertificate(ca, certs, { name: "server-2", days: 7 });
    const t0 = Date.now();
    writeFileSync(secret.keyPath, second.key);
    writeFileSync(secret.certPath, second.cert);
    const want = opensslFingerprint(second.certPath);
    await until("the new certificate on the gRPC port", async () =>
      (await presented(agent.grpcPort)) === want ? true : undefined,
    );
    assert.equal(await presented(agent.port), want, "and on the REST port");
    const seenAfterMs = Date.now() - t0;
    // The stream was not dropped: it keeps delivering after the rotation.
    const atRotation = received;
    await until("stream messages after the rotation", () => (received >= atRotation + 3 ? true : undefined));
    abort.abort();
    assert.equal(await stream, "cancelled by us");
    const notAfter2 = opensslNotAfter(second.certPath).getTime() / 1000;
    assert.equal(await expiryMetric(agent, "grpc"), notAfter2);
    assert.equal(await expiryMetric(agent, "external_http"), notAfter2);
    const replaced = agent.logEntries().find((e) => e.msg === "TLS certificate replaced");
    assert.equal(replaced?.sha256, want, `seen by a new connection ${seenAfterMs} ms after the write`);

    // Broken replacement: not a certificate at all. Refused and logged; the pair in use stays.
    const logged = agent.logEntries().length;
    writeFileSync(secret.certPath, "-----BEGIN CERTIFICATE-----\ncorrupt\n-----END CERTIFICATE-----\n");
    const refusal = await until("the refusal", () =>
      agent
        .logEntries()
        .slice(logged)
        .find((e) => e.msg === "TLS certificate replacement refused; the certificate in use stays"),
    );
    assert.match(String(refusal.error), /tls\.crt: certificate #1 does not parse/);
    assert.equal(refusal.sha256, want, "it names the certificate kept");
    assert.equal(await presented(agent.grpcPort), want);
    assert.equal(await grpcJsStatusCode(`localhost:${agent.grpcPort}`, sslCredentials()), 0);
    assert.equal(await expiryMetric(agent, "grpc"), notAfter2);

    // SIGHUP re-reads the files and does not stop the agent.
    writeFileSync(secret.certPath, second.cert);
    agent.proc.kill("SIGHUP");
    await until(
      "the SIGHUP log line",
      () =>
        agent.logEntries().some((e) => e.msg === "received SIGHUP: re-reading TLS certificate files") ||
        undefined,
    );
    assert.equal((await agent.status()).status, "empty");
  });
});

/** An agent reachable from other hosts, requiring client certificates of `ca`. */
const mtlsArgs = (secret: { certPath: string; keyPath: string }) => [
  "--http-host",
  "0.0.0.0",
  "--tls-cert",
  secret.certPath,
  "--tls-key",
  secret.keyPath,
  "--tls-client-ca",
  ca.certPath,
];
const mtlsClient = { ca: ca.pem, cert: client.cert, key: client.key };

describe("mTLS (--tls-client-ca) with JWT keys", () => {
  let agent: RunningAgent;
  let token: string;
  before(async () => {
    const kit = await tokenKit();
    token = await kit.sign(kit.ed, { compute_id: COMPUTE_ID });
    const secret = secretDir("mtls", issueCertificate(ca, certs, { name: "server-mtls" }));
    agent = await startAgent({
      name: "tls-mtls",
      config: { spec: null, compute_ctl_config: { jwks: kit.jwks } },
      args: ["--compute-id", COMPUTE_ID, ...mtlsArgs(secret)],
      tlsClient: mtlsClient,
    });
    agents.push(agent);
  });

  test("no client certificate, or another CA's: the handshake is refused", async () => {
    const address = `localhost:${agent.grpcPort}`;
    assert.equal(await grpcJsStatusCode(address, sslCredentials(), token), Code.Unavailable);
    assert.equal(await grpcJsStatusCode(address, sslCredentials(stranger), token), Code.Unavailable);
    for (const who of [{}, { cert: stranger.cert, key: stranger.key }]) {
      await assert.rejects(
        tlsFetch({ ca: ca.pem, ...who })(`${agent.url}/healthz`),
        /certificate|socket hang up|ECONNRESET/,
      );
    }
  });

  test("the right certificate: served, and the token is still required", async () => {
    const address = `localhost:${agent.grpcPort}`;
    assert.equal(await grpcJsStatusCode(address, sslCredentials(client)), Code.Unauthenticated);
    assert.equal(await grpcJsStatusCode(address, sslCredentials(client), token), 0);
    // Neon's answer to a request without Authorization: 400.
    const bare = await agent.get("/status");
    assert.equal(bare.status, 400);
    assert.match(await bare.text(), /authorization/i);
    const ok = await agent.get("/status", { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
  });

  test("no plaintext warning on TLS listeners; a plaintext agent with keys on 0.0.0.0 warns", async () => {
    const warned = (a: RunningAgent) =>
      a
        .logEntries()
        .filter((e) => e.level === 40 && /is plaintext and reachable from other hosts/.test(String(e.msg)))
        .map((e) => e.listener);
    assert.deepEqual(warned(agent), []);
    const kit = await tokenKit();
    const plain = await startAgent({
      name: "tls-plaintext-warning",
      config: { spec: null, compute_ctl_config: { jwks: kit.jwks } },
      args: ["--compute-id", COMPUTE_ID, "--http-host", "0.0.0.0"],
    });
    agents.push(plain);
    await until(
      "the API up",
      () => plain.logEntries().some((e) => e.msg === "gRPC/Connect listening") || undefined,
    );
    assert.deepEqual(warned(plain).sort(), ["external_http", "grpc"]);
  });
});

describe("mTLS without JWT keys", () => {
  let ns: TestNetns;
  let agent: RunningAgent;
  before(async () => {
    ns = await createNetns();
    const secret = secretDir("mtls-nokeys", issueCertificate(ca, certs, { name: "server-nokeys" }));
    agent = await startAgent({
      name: "tls-mtls-nokeys",
      args: mtlsArgs(secret),
      tlsClient: mtlsClient,
    });
    agents.push(agent);
  });
  after(() => ns?.remove());

  /** curl from the namespace (a non-loopback peer) over TLS; "000" when it cannot connect. */
  async function curlFromNs(
    port: number,
    p: string,
    withCert: boolean,
  ): Promise<{ status: string; body: string }> {
    const args = ["-s", "-m", "20", "-w", "\n%{http_code}", "--cacert", ca.certPath];
    if (withCert) args.push("--cert", client.certPath, "--key", client.keyPath);
    args.push("--resolve", `localhost:${port}:${ns.hostAddress}`, "-X", "POST");
    args.push("-H", "content-type: application/json", "-d", "{}", `https://localhost:${port}${p}`);
    const { stdout } = await ns.exec("curl", args);
    const cut = stdout.lastIndexOf("\n");
    return { status: stdout.slice(cut + 1), body: stdout.slice(0, cut) };
  }

  test("a certified client on another host may change the compute; without a certificate it cannot connect", async () => {
    assert.equal((await curlFromNs(agent.port, "/terminate", false)).status, "000");
    assert.equal(
      (await curlFromNs(agent.grpcPort, "/compute.v1.ComputeService/CheckWritability", false)).status,
      "000",
    );
    // The gate lets the certified caller through (what follows is the compute's own answer).
    const rpc = await curlFromNs(agent.grpcPort, "/compute.v1.ComputeService/CheckWritability", true);
    assert.notEqual(rpc.status, "000");
    assert.notEqual(JSON.parse(rpc.body).code, "permission_denied", rpc.body);
    const terminate = await curlFromNs(agent.port, "/terminate", true);
    assert.equal(terminate.status, "200", terminate.body);
    assert.equal((await agent.status()).status, "terminated");
  });
});

describe("an expired certificate at start", () => {
  test("is served with an error line and the expiry metric in the past; the next valid rotation replaces it", async () => {
    const expired = issueCertificate(ca, certs, { name: "server-expired", days: -1 });
    const secret = secretDir("expired", expired);
    const agent = await startAgent({
      name: "tls-expired",
      args: ["--tls-cert", secret.certPath, "--tls-key", secret.keyPath, "--tls-recheck-s", "3600"],
      // The harness's own requests (readiness, /metrics) accept it; the checks below verify.
      tlsClient: { ca: ca.pem, rejectUnauthorized: false },
    });
    agents.push(agent);
    await agent.waitForStatus("empty");
    const line = await until("the expired-certificate error line", () =>
      agent.logEntries().find((e) => e.level === 50 && /in use has expired/.test(String(e.msg))),
    );
    assert.equal(line.sha256, opensslFingerprint(expired.certPath));
    // A client that verifies refuses it, saying why.
    await assert.rejects(presented(agent.grpcPort), /certificate has expired/);
    const notAfter = opensslNotAfter(expired.certPath).getTime() / 1000;
    assert.ok(notAfter < Date.now() / 1000);
    assert.equal(await expiryMetric(agent, "grpc"), notAfter);
    // cert-manager catches up: the valid pair is taken without a restart.
    const fresh = issueCertificate(ca, certs, { name: "server-fresh" });
    writeFileSync(secret.keyPath, fresh.key);
    writeFileSync(secret.certPath, fresh.cert);
    const want = opensslFingerprint(fresh.certPath);
    await until("the valid certificate", async () =>
      (await presented(agent.grpcPort).catch(() => "")) === want ? true : undefined,
    );
    assert.equal(await expiryMetric(agent, "grpc"), opensslNotAfter(fresh.certPath).getTime() / 1000);
  });
});

describe("the flags", () => {
  test("a pair that does not match, and half of a pair, stop the agent with exit status 2 before it binds", async () => {
    const a = issueCertificate(ca, certs, { name: "flag-a" });
    const b = issueCertificate(ca, certs, { name: "flag-b" });
    const cases: [string[], RegExp][] = [
      [
        ["--tls-cert", a.certPath, "--tls-key", b.keyPath],
        /--tls-cert\/--tls-key\/--tls-client-ca: key file .*flag-b\.key does not belong/,
      ],
      [["--tls-cert", a.certPath], /--tls-cert and --tls-key go together/],
      [
        ["--tls-cert", a.certPath, "--tls-key", a.keyPath, "--tls-client-ca", path.join(root, "nope.pem")],
        /cannot read .*nope\.pem/,
      ],
    ];
    for (const [args, message] of cases) {
      const agent = await startAgent({ name: "tls-flags", args });
      agents.push(agent);
      assert.equal((await agent.exited).code, 2, args.join(" "));
      assert.match(agent.logs(), message);
      // Nothing was bound: the port is free again for anyone.
      await new Promise<void>((resolve, reject) => {
        const s = http.createServer().listen(agent.port, "127.0.0.1", () => s.close(() => resolve()));
        s.once("error", reject);
      });
    }
  });
});
