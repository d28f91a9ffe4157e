// Listeners that cannot be held hostage, tried against the real agent with raw sockets and
// independent clients (node:http2, @grpc/grpc-js, curl): garbage and silent connections are
// answered and closed, slow headers cut, oversized headers get 431, a huge body without a token
// is refused from its headers without being read, one message limit counts the message on every
// path, long deadlines are served, and the number of connections is bounded.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { ConfigureRequestSchema } from "../gen/compute/v1/compute_service_pb.js";
import { startGrpcServer } from "../src/api/grpc/index.js";
import { listenerLimits } from "../src/api/listener/index.js";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { createFakeComputeApi } from "./support/grpc-fake-api.js";
import { grpcJsClient, grpcJsUnary } from "./support/grpc-harness.js";
import { COMPUTE_ID, tokenKit } from "./support/grpc-tokens.js";

let agent: RunningAgent;
before(async () => {
  agent = await startAgent({ name: "limits" });
});
after(() => agent?.stop());

interface Outcome {
  closedAfterMs: number;
  received: string;
}

/** Opens a connection, runs `drive` on it and resolves when the server closes it. */
function connection(port: number, drive: (s: net.Socket) => void, limitMs = 20_000): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => drive(socket));
    let received = "";
    socket.on("data", (d) => {
      received += d.toString("latin1");
    });
    socket.on("error", () => {});
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection still open after ${limitMs} ms`));
    }, limitMs);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ closedAfterMs: Date.now() - t0, received });
    });
  });
}

function garbage(): Buffer {
  const bytes = randomBytes(64);
  bytes[0] = 0x16; // never the HTTP/2 preface's "P"
  return bytes;
}

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

test("200 garbage connections to the gRPC TCP port are answered and closed within 15 s; silent and slow ones too", async () => {
  const pid = agent.proc.pid as number;
  const before = openFds(pid);
  const t0 = Date.now();
  const trickle = (s: net.Socket) => {
    s.write("GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    const timer = setInterval(() => s.writable && s.write("a"), 500);
    s.once("close", () => clearInterval(timer));
  };
  const [noise, silent, slowGrpc, slowRest, h2Idle] = await Promise.all([
    Promise.all(Array.from({ length: 200 }, () => connection(agent.grpcPort, (s) => s.write(garbage())))),
    Promise.all(Array.from({ length: 10 }, () => connection(agent.grpcPort, () => {}))),
    connection(agent.grpcPort, trickle),
    connection(agent.port, trickle),
    connection(agent.grpcPort, (s) => s.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")),
  ]);
  assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
  for (const o of noise) assert.match(o.received, /^HTTP\/1\.1 400 /);
  for (const o of [...silent, slowGrpc, slowRest, h2Idle]) assert.ok(o.closedAfterMs < 15_000);
  assert.match(slowRest.received, /^HTTP\/1\.1 408 /);
  assert.match(slowGrpc.received, /^HTTP\/1\.1 408 /);
  assert.ok(openFds(pid) <= before + 2, `agent holds ${openFds(pid)} fds, had ${before}`);
});

test("a header over the limit gets 431 on the REST and gRPC ports, over HTTP/1.1 and HTTP/2", async () => {
  const big = `Bearer ${"a".repeat(20_000)}`;
  for (const port of [agent.port, agent.grpcPort]) {
    const res = await fetch(`http://127.0.0.1:${port}/status`, { headers: { authorization: big } });
    assert.equal(res.status, 431, `HTTP/1.1 on ${port}`);
  }
  const session = http2.connect(`http://127.0.0.1:${agent.grpcPort}`);
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const req = session.request({
        ":method": "POST",
        ":path": "/compute.v1.ComputeService/Status",
        "content-type": "application/grpc",
        authorization: big,
      });
      req.on("response", (h) => resolve(Number(h[":status"])));
      req.on("error", reject);
      req.end();
    });
    assert.equal(status, 431, "HTTP/2");
  } finally {
    session.close();
  }
});

test("a 30-day deadline is served (WatchStatus through connect-node, Status through the fast path)", async () => {
  const client = grpcJsClient(`127.0.0.1:${agent.grpcPort}`);
  try {
    const deadline = Date.now() + 30 * 24 * 3600 * 1000;
    const res = await grpcJsUnary<{ state: { status: string } }>(client, "Status", {}, new grpc.Metadata());
    assert.equal(res.state.status, "COMPUTE_STATUS_EMPTY");
    const unary = await new Promise<{ state: { status: string } }>((resolve, reject) =>
      client.Status(
        {},
        new grpc.Metadata(),
        { deadline },
        (err: Error | null, r: { state: { status: string } }) => (err ? reject(err) : resolve(r)),
      ),
    );
    assert.equal(unary.state.status, "COMPUTE_STATUS_EMPTY");
    const call = client.WatchStatus({}, new grpc.Metadata(), { deadline });
    const first = await new Promise<{ state: { status: string } }>((resolve, reject) => {
      call.once("data", resolve);
      call.once("error", reject);
    });
    assert.equal(first.state.status, "COMPUTE_STATUS_EMPTY");
    call.cancel();
  } finally {
    client.close();
  }
});

test("connections are bounded per listener (--max-connections)", async (t) => {
  const bounded = await startAgent({ name: "limits-conns", args: ["--max-connections", "4"] });
  t.after(() => bounded.stop());
  // HTTP/2 sessions that opened a stream stay open (idle timeout 5 min).
  const sessions = Array.from({ length: 4 }, () => http2.connect(`http://127.0.0.1:${bounded.grpcPort}`));
  t.after(() => {
    for (const s of sessions) s.destroy();
  });
  for (const s of sessions) {
    await new Promise<void>((resolve, reject) => {
      const req = s.request({ ":method": "POST", ":path": "/nowhere", "content-type": "application/grpc" });
      req.on("response", () => resolve());
      req.on("error", reject);
      req.end();
      req.resume();
    });
  }
  const refused = await connection(
    bounded.grpcPort,
    (s) => s.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    3000,
  );
  assert.ok(refused.closedAfterMs < 2000, "the fifth connection is closed at once");
  sessions[0].destroy();
  await new Promise((r) => setTimeout(r, 100));
  const client = grpcJsClient(`127.0.0.1:${bounded.grpcPort}`);
  try {
    const res = await grpcJsUnary<{ state: { status: string } }>(client, "Status", {});
    assert.equal(res.state.status, "COMPUTE_STATUS_EMPTY", "a slot is free again");
  } finally {
    client.close();
  }
});

test("one message limit on every path, counting the message and not its prefix", async (t) => {
  const limited = await startAgent({ name: "limits-message", args: ["--max-message-bytes", "2048"] });
  t.after(() => limited.stop());
  // A Configure request whose message is exactly `bytes` long, with an invalid spec (so that
  // being read shows as INVALID_ARGUMENT and nothing starts).
  const configure = (bytes: number) => {
    const request = (pad: number) =>
      create(ConfigureRequestSchema, {
        spec: { formatVersion: 9, suspendTimeoutSeconds: -1n, cluster: { postgresqlConf: "x".repeat(pad) } },
      });
    const base = toBinary(ConfigureRequestSchema, request(0)).length;
    let pad = bytes - base;
    while (toBinary(ConfigureRequestSchema, request(pad)).length > bytes) pad--;
    const message = toBinary(ConfigureRequestSchema, request(pad));
    assert.equal(message.length, bytes);
    return message;
  };
  const grpcCall = (message: Uint8Array) => {
    const session = http2.connect(`http://127.0.0.1:${limited.grpcPort}`);
    return new Promise<string>((resolve, reject) => {
      const req = session.request({
        ":method": "POST",
        ":path": "/compute.v1.ComputeService/Configure",
        "content-type": "application/grpc",
        te: "trailers",
      });
      let status = "";
      req.on("response", (h) => {
        status = String(h["grpc-status"] ?? "");
      });
      req.on("trailers", (h) => {
        status = String(h["grpc-status"] ?? status);
      });
      req.on("close", () => {
        session.close();
        resolve(status);
      });
      req.on("error", reject);
      const frame = Buffer.alloc(5 + message.length);
      frame.writeUInt32BE(message.length, 1);
      frame.set(message, 5);
      req.end(frame);
      req.resume();
    });
  };
  // Fast path (unary gRPC over HTTP/2): at the limit it is read, one byte over is refused.
  assert.equal(await grpcCall(configure(2048)), String(grpc.status.INVALID_ARGUMENT));
  assert.equal(await grpcCall(configure(2049)), String(grpc.status.RESOURCE_EXHAUSTED));
  // Connect unary (JSON over HTTP/1.1, through connect-node) and REST.
  const json = (bytes: number) => JSON.stringify({ spec: { formatVersion: 9, pad: "x".repeat(bytes) } });
  const connect = await fetch(`http://127.0.0.1:${limited.grpcPort}/compute.v1.ComputeService/Configure`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: json(3000),
  });
  assert.equal(((await connect.json()) as { code: string }).code, "resource_exhausted");
  const rest = await limited.post("/configure", json(3000));
  assert.equal(rest.status, 413);
  const small = await limited.post("/configure", { spec: { ...minimalSpec(), format_version: 9 } });
  assert.equal(small.status, 400, "a body under the limit is read and parsed");
});

/** Peak resident set of `pid` in bytes (VmHWM). */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1]) * 1024;
}

/** How uploadUntilAnswered reports a request closed unanswered before its whole body was sent. */
const CUT_SHORT = "closed unanswered, body cut short";

/**
 * Streams `total` bytes as a request body until the server answers; resolves with the answer, or
 * with how the request ended without one. A server that answers early and closes while the body
 * still arrives makes the kernel reset the connection, and a reset can discard the answer before
 * the client reads it: the request then closes unanswered, with part of the body unsent.
 */
function uploadUntilAnswered(
  start: (onAnswer: (status: string) => void) => {
    write(chunk: Buffer): boolean;
    once(e: "drain" | "close", f: () => void): void;
    end(): void;
  },
  total: number,
): Promise<string> {
  return new Promise((resolve) => {
    let answered = false;
    let sent = 0;
    const req = start((status) => {
      answered = true;
      resolve(status);
    });
    req.once("close", () => {
      if (!answered) resolve(sent < total ? CUT_SHORT : "closed unanswered");
    });
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return req.once("drain", pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

/** The refusal expected, or the reset that can replace it (uploadUntilAnswered). */
function assertRefused(answer: string, expected: string, what: string): void {
  if (answer !== CUT_SHORT) assert.equal(answer, expected, what);
}

test("a 50 MB body without a token is refused from its headers on every protocol; peak RSS grows < 40 MB", async (t) => {
  const kit = await tokenKit();
  const secured = await startAgent({
    name: "limits-token",
    config: { spec: null, compute_ctl_config: { jwks: kit.jwks } },
    args: ["-i", COMPUTE_ID],
  });
  t.after(() => secured.stop());
  const pid = secured.proc.pid as number;
  const path = "/compute.v1.ComputeService/Configure";
  const total = 50 * 1024 * 1024;
  const rssBefore = peakRss(pid);

  const h1 = (contentType: string) =>
    uploadUntilAnswered((onAnswer) => {
      const req = http.request({
        host: "127.0.0.1",
        port: secured.grpcPort,
        method: "POST",
        path,
        headers: { "content-type": contentType, "content-length": total },
      });
      req.on("response", (res) => {
        const grpcStatus = res.headers["grpc-status"];
        onAnswer(grpcStatus ? `grpc-status ${grpcStatus}` : `HTTP ${res.statusCode}`);
        res.resume();
      });
      req.on("error", () => {});
      return req;
    }, total);
  assertRefused(await h1("application/json"), "HTTP 401", "Connect unary");
  assertRefused(
    await h1("application/grpc-web+proto"),
    `grpc-status ${grpc.status.UNAUTHENTICATED}`,
    "gRPC-Web",
  );

  const session = http2.connect(`http://127.0.0.1:${secured.grpcPort}`);
  t.after(() => session.destroy());
  for (const contentType of ["application/grpc", "application/connect+proto"]) {
    const answer = await uploadUntilAnswered((onAnswer) => {
      const req = session.request({ ":method": "POST", ":path": path, "content-type": contentType });
      req.on("response", (h) =>
        onAnswer(h["grpc-status"] ? `grpc-status ${h["grpc-status"]}` : `HTTP ${h[":status"]}`),
      );
      req.on("error", () => {});
      req.resume();
      return req;
    }, total);
    if (contentType === "application/grpc")
      assertRefused(answer, `grpc-status ${grpc.status.UNAUTHENTICATED}`, "gRPC");
    else assertRefused(answer, "HTTP 200", "Connect streaming answers with an end-of-stream error");
  }
  const growth = peakRss(pid) - rssBefore;
  assert.ok(growth < 40 * 1024 * 1024, `peak RSS grew by ${Math.round(growth / 1048576)} MB`);
});

test("curl: gRPC-Web and Connect over HTTP/1.1 get their protocol's refusal without a token", async (t) => {
  const kit = await tokenKit();
  const secured = await startAgent({
    name: "limits-curl",
    config: { spec: null, compute_ctl_config: { jwks: kit.jwks } },
    args: ["-i", COMPUTE_ID],
  });
  t.after(() => secured.stop());
  const { stdout } = await promisify(execFile)("curl", [
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "-H",
    "content-type: application/json",
    "-d",
    "{}",
    `http://127.0.0.1:${secured.grpcPort}/compute.v1.ComputeService/Status`,
  ]);
  assert.equal(stdout, "401");
  const token = await kit.sign(kit.ed, { compute_id: COMPUTE_ID });
  const ok = await promisify(execFile)("curl", [
    "-s",
    "-H",
    "content-type: application/json",
    "-H",
    `authorization: Bearer ${token}`,
    "-d",
    "{}",
    `http://127.0.0.1:${secured.grpcPort}/compute.v1.ComputeService/Status`,
  ]);
  assert.match(ok.stdout, /COMPUTE_STATUS_EMPTY/);
});

test("an HTTP/2 request whose body does not arrive is cancelled after the request timeout (fast path and connect-node)", async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), "cct-slow-"));
  const server = await startGrpcServer({
    api: createFakeComputeApi(),
    socketPath: path.join(root, "run", "g.sock"),
    host: "127.0.0.1",
    port: 0,
    authorizer: null,
    log: pino({ level: "silent" }),
    limits: { ...listenerLimits(), headersTimeoutMs: 1000, requestTimeoutMs: 1500 },
    shutdownGraceMs: 100,
  });
  t.after(async () => {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  });
  const session = http2.connect(`http://127.0.0.1:${server.port}`);
  t.after(() => session.destroy());
  const slow = (contentType: string) =>
    new Promise<{ rstCode: number; ms: number }>((resolve) => {
      const t0 = Date.now();
      const req = session.request({
        ":method": "POST",
        ":path": "/compute.v1.ComputeService/Configure",
        "content-type": contentType,
      });
      req.on("error", () => {});
      req.write(Buffer.from([0, 0, 0])); // three bytes of a frame, then nothing
      req.on("close", () => resolve({ rstCode: req.rstCode ?? -1, ms: Date.now() - t0 }));
      req.resume();
    });
  for (const contentType of ["application/grpc", "application/json"]) {
    const { rstCode, ms } = await slow(contentType);
    assert.equal(rstCode, http2.constants.NGHTTP2_CANCEL, contentType);
    assert.ok(ms >= 1400 && ms < 5000, `${contentType}: cancelled after ${ms} ms`);
  }
});
