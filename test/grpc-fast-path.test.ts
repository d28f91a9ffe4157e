// Unary gRPC over HTTP/2 is served on the raw stream API (src/api/grpc/fast-path/unary-fast-path.ts);
// everything else stays with connect-node. Both must answer alike: the same bytes for the same
// call, gRPC framing errors as statuses, deadlines honoured, compressed calls handed to
// connect-node, and a client that resets mid-call must not hurt the server.
import assert from "node:assert/strict";
import http2 from "node:http2";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { compressionGzip, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import {
  ComputeService,
  ConfigureRequestSchema,
  StatusRequestSchema,
  StatusResponseSchema,
} from "../gen/compute/v1/compute_service_pb.js";
import { ComputeStatus } from "../gen/compute/v1/status_pb.js";
import { envelope, parseEnvelopes } from "./support/grpc-curl.js";
import { createFakeComputeApi, StepGate } from "./support/grpc-fake-api.js";
import {
  grpcJsAddresses,
  grpcJsClient,
  grpcJsUnary,
  startGrpcHarness,
  waitUntil,
} from "./support/grpc-harness.js";

interface RawReply {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP/2 POST with a hand-made body; the reply's headers, trailers and raw body. */
function rawCall(
  url: string,
  path: string,
  body: Buffer,
  extra: Record<string, string> = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...extra,
    });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      headers = h;
    });
    req.on("trailers", (t) => {
      trailers = t;
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      session.close();
      resolve({ headers, trailers, body: Buffer.concat(chunks) });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const STATUS = "/compute.v1.ComputeService/Status";
const emptyRequest = () => envelope(0, toBinary(StatusRequestSchema, create(StatusRequestSchema)));
const grpcStatus = (r: RawReply) => r.trailers["grpc-status"] ?? r.headers["grpc-status"];
const grpcMessage = (r: RawReply) =>
  decodeURIComponent(String(r.headers["grpc-message"] ?? r.trailers["grpc-message"]));

test("a plain unary gRPC call is served by the fast path (its visible mark: the request's content-type echoed)", async (t) => {
  const withFast = await startGrpcHarness();
  t.after(() => withFast.close());
  const connectOnly = await startGrpcHarness({ unaryFastPath: false });
  t.after(() => connectOnly.close());
  // connect-node always answers application/grpc+proto; the fast path echoes what was sent.
  const fast = await rawCall(withFast.tcpUrl, STATUS, emptyRequest());
  const reference = await rawCall(connectOnly.tcpUrl, STATUS, emptyRequest());
  assert.equal(fast.headers["content-type"], "application/grpc");
  assert.equal(reference.headers["content-type"], "application/grpc+proto");
  assert.deepEqual([grpcStatus(fast), grpcStatus(reference)], ["0", "0"]);
  // The same on the Unix socket, and from an independent client (grpc-js sends application/grpc).
  const client = grpcJsClient(grpcJsAddresses(withFast).unix);
  t.after(() => client.close());
  const seen = await new Promise<grpc.Metadata>((resolve, reject) => {
    const call = client.status({}, (err: Error | null) => err && reject(err));
    call.on("metadata", resolve);
  });
  assert.deepEqual(seen.get("content-type"), ["application/grpc"]);
  // Calls outside its narrow case go to connect-node on the same server.
  const viaConnect = await rawCall(withFast.tcpUrl, STATUS, emptyRequest(), { "grpc-encoding": "gzip" });
  assert.equal(viaConnect.headers["content-type"], "application/grpc+proto");
});

test("an empty body gets connect-node's status on the fast path too (UNIMPLEMENTED: missing input message)", async (t) => {
  const withFast = await startGrpcHarness();
  t.after(() => withFast.close());
  const connectOnly = await startGrpcHarness({ unaryFastPath: false });
  t.after(() => connectOnly.close());
  const fast = await rawCall(withFast.tcpUrl, STATUS, Buffer.alloc(0));
  const reference = await rawCall(connectOnly.tcpUrl, STATUS, Buffer.alloc(0));
  assert.equal(fast.headers["content-type"], "application/grpc", "served by the fast path");
  assert.deepEqual(
    [grpcStatus(fast), grpcMessage(fast)],
    ["12", "protocol error: missing input message for unary method"],
  );
  assert.deepEqual([grpcStatus(fast), grpcMessage(fast)], [grpcStatus(reference), grpcMessage(reference)]);
});

test("raw grpc-timeout headers: the fast path and connect-node accept and refuse the same values", async (t) => {
  const withFast = await startGrpcHarness();
  t.after(() => withFast.close());
  const connectOnly = await startGrpcHarness({ unaryFastPath: false });
  t.after(() => connectOnly.close());
  // Valid: 1-8 digits and a unit (H M S m u n). Invalid: no unit, a fraction, a sign, 9 digits.
  const valid = ["1n", "0m", "100m", "5S", "1H", "99999999n", " 100m"];
  const invalid = ["abc", "1", "1.5S", "-1m", "123456789S", "10x"];
  for (const value of [...valid, ...invalid]) {
    const fast = await rawCall(withFast.tcpUrl, STATUS, emptyRequest(), { "grpc-timeout": value });
    const reference = await rawCall(connectOnly.tcpUrl, STATUS, emptyRequest(), { "grpc-timeout": value });
    assert.equal(fast.headers["content-type"], "application/grpc", `${value}: served by the fast path`);
    const expected = invalid.includes(value)
      ? ["3", `protocol error: invalid grpc timeout value: ${value}`]
      : ["0", "undefined"];
    assert.deepEqual([grpcStatus(fast), grpcMessage(fast)], expected, `fast path, grpc-timeout ${value}`);
    assert.deepEqual(
      [grpcStatus(reference), grpcMessage(reference)],
      expected,
      `connect-node, grpc-timeout ${value}`,
    );
  }
});

test("a raw grpc-timeout shorter than the work: the fast path answers DEADLINE_EXCEEDED at the deadline", async (t) => {
  const configure = envelope(
    0,
    toBinary(
      ConfigureRequestSchema,
      create(ConfigureRequestSchema, { spec: { suspendTimeoutSeconds: -1n } }),
    ),
  );
  const CONFIGURE = "/compute.v1.ComputeService/Configure";
  // The fast path answers when the deadline passes, while the work is still held.
  const gate = new StepGate();
  const fast = await startGrpcHarness({ api: createFakeComputeApi({ stepMs: 1, gate }) });
  t.after(() => fast.close());
  gate.close();
  const r = await rawCall(fast.tcpUrl, CONFIGURE, configure, { "grpc-timeout": "200m" });
  assert.deepEqual([grpcStatus(r), r.headers["content-type"]], ["4", "application/grpc"], grpcMessage(r));
  assert.equal(fast.api.machine.status, "configuration_pending", "answered while the work was held");
  gate.open();
  // (connect-node only aborts the handler's signal at the deadline and answers when the handler
  // returns, here with OK; gRPC clients enforce their deadline themselves, so both are correct.)
});

test("the fast path and connect-node answer Status with the same bytes", async (t) => {
  const h = await startGrpcHarness();
  t.after(() => h.close());
  const fast = await rawCall(h.tcpUrl, STATUS, emptyRequest());
  // grpc-encoding gzip (with an uncompressed frame, which gRPC allows) routes the call to connect-node.
  const viaConnect = await rawCall(h.tcpUrl, STATUS, emptyRequest(), { "grpc-encoding": "gzip" });
  for (const r of [fast, viaConnect]) {
    assert.equal(r.headers[":status"], 200);
    assert.match(String(r.headers["content-type"]), /^application\/grpc/);
    assert.equal(grpcStatus(r), "0");
  }
  const [a] = parseEnvelopes(fast.body).envelopes;
  const [b] = parseEnvelopes(viaConnect.body).envelopes;
  assert.deepEqual(a.payload, b.payload);
  assert.equal(fromBinary(StatusResponseSchema, a.payload).state?.status, ComputeStatus.EMPTY);
});

test("Status polled on the fast path: the same bytes while nothing changes, the new state in the very next call", async (t) => {
  const h = await startGrpcHarness();
  t.after(() => h.close());
  const status = async () => {
    const r = await rawCall(h.tcpUrl, STATUS, emptyRequest());
    assert.deepEqual([grpcStatus(r), r.headers["content-type"]], ["0", "application/grpc"]);
    return r.body;
  };
  const before = await status();
  assert.deepEqual(await status(), before);
  assert.equal(fromBinary(StatusResponseSchema, before.subarray(5)).state?.status, ComputeStatus.EMPTY);
  h.api.machine.transition("configuration_pending", { startTime: new Date() });
  const after = await status();
  const state = fromBinary(StatusResponseSchema, after.subarray(5)).state;
  assert.equal(state?.status, ComputeStatus.CONFIGURATION_PENDING);
  // The same bytes connect-node gives for the new state.
  const viaConnect = await rawCall(h.tcpUrl, STATUS, emptyRequest(), { "grpc-encoding": "gzip" });
  assert.deepEqual(after, viaConnect.body);
});

test("bad gRPC framing gets the status connect-node gives, not a broken connection", async (t) => {
  const h = await startGrpcHarness();
  t.after(() => h.close());
  // [case, body, code, compare with connect-node] (a compressed flag is legal where connect-node gets the call).
  const cases: [string, Buffer, string, boolean][] = [
    ["truncated frame header", Buffer.from([0, 0, 0]), "3", true],
    ["length larger than the body", Buffer.from([0, 0, 0, 0, 9, 1]), "3", true],
    ["two messages in a unary call", Buffer.concat([emptyRequest(), emptyRequest()]), "12", true],
    ["undecodable protobuf", envelope(0, Buffer.from([0xff, 0xff, 0xff])), "13", true],
    ["compressed flag without grpc-encoding", Buffer.from([1, 0, 0, 0, 0]), "13", false],
  ];
  const message = (r: RawReply) => String(r.headers["grpc-message"] ?? r.trailers["grpc-message"]);
  for (const [name, body, code, compare] of cases) {
    const r = await rawCall(h.tcpUrl, STATUS, body);
    assert.equal(r.headers[":status"], 200, name);
    assert.equal(grpcStatus(r), code, `${name}: ${message(r)}`);
    if (!compare) continue;
    const viaConnect = await rawCall(h.tcpUrl, STATUS, body, { "grpc-encoding": "gzip" });
    assert.deepEqual([grpcStatus(r), message(r)], [grpcStatus(viaConnect), message(viaConnect)], name);
  }
  // The server is fine afterwards.
  assert.equal(grpcStatus(await rawCall(h.tcpUrl, STATUS, emptyRequest())), "0");
});

test("deadlines are honoured and a client reset mid-call does no harm", async (t) => {
  // The fake's steps wait at a gate the test opens, so "before the work finished" is an order of
  // events, not a race between 200 ms and a sleep.
  const gate = new StepGate();
  const h = await startGrpcHarness({ api: createFakeComputeApi({ stepMs: 1, gate }) });
  t.after(() => h.close());
  const client = grpcJsClient(grpcJsAddresses(h).unix);
  t.after(() => client.close());
  const configure = { spec: { suspendTimeoutSeconds: "-1" } };
  gate.close();
  await assert.rejects(
    new Promise((resolve, reject) =>
      client.configure(configure, new grpc.Metadata(), { deadline: Date.now() + 200 }, (err: Error | null) =>
        err ? reject(err) : resolve(undefined),
      ),
    ),
    { code: grpc.status.DEADLINE_EXCEEDED },
  );
  assert.equal(
    h.api.machine.status,
    "configuration_pending",
    "the deadline answered before the work finished",
  );
  gate.open();
  await waitUntil(() => h.api.machine.status === "running", "the first configure finished");
  // A call the client cancels while the server is working on it.
  gate.close();
  const call = client.terminate({}, () => {});
  await waitUntil(() => h.api.machine.status === "termination_pending_fast", "the server works on Terminate");
  call.cancel();
  gate.open();
  await waitUntil(() => h.api.machine.status === "terminated", "the cancelled Terminate completed");
  const res = await grpcJsUnary<{ state: { status: string } }>(client, "status", {});
  assert.equal(res.state.status, "COMPUTE_STATUS_TERMINATED");
});

test("a gzip-compressed call is served (by connect-node)", async (t) => {
  const h = await startGrpcHarness();
  t.after(() => h.close());
  const client = createClient(
    ComputeService,
    createGrpcTransport({ baseUrl: h.tcpUrl, sendCompression: compressionGzip, compressMinBytes: 0 }),
  );
  assert.equal((await client.status({})).state?.status, ComputeStatus.EMPTY);
  const compressed = envelope(1, gzipSync(toBinary(StatusRequestSchema, create(StatusRequestSchema))));
  const r = await rawCall(h.tcpUrl, STATUS, compressed, { "grpc-encoding": "gzip" });
  assert.equal(grpcStatus(r), "0");
});
