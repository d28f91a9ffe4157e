// Unary gRPC over HTTP/2 is served on the raw stream API (src/api/grpc/unary-fast-path.ts);
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
