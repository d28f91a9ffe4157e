// Error codes and resource release: a bad spec is INVALID_ARGUMENT with the field path (also as
// a SpecViolation detail), wrong state FAILED_PRECONDITION, unknown INTERNAL errors are masked;
// cancelled calls, deadlines and server shutdown end streams and release their subscriptions.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { SpecViolationSchema } from "../gen/compute/v1/errors_pb.js";
import { ComputeMode, ComputeSpecSchema } from "../gen/compute/v1/spec_pb.js";
import { createFakeComputeApi } from "./support/grpc-fake-api.js";
import {
  connectClient,
  grpcJsAddresses,
  grpcJsClient,
  grpcJsStream,
  grpcJsUnary,
  startGrpcHarness,
  waitUntil,
} from "./support/grpc-harness.js";

async function connectError(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  assert.fail("the call succeeded");
}

test("bad specs are INVALID_ARGUMENT naming the field, as message and SpecViolation detail", async (t) => {
  const h = await startGrpcHarness({ stepMs: 1 });
  t.after(() => h.close());
  const client = connectClient("grpc", { tcpUrl: h.tcpUrl });
  const cases: [string, Parameters<typeof create<typeof ComputeSpecSchema>>[1], string][] = [
    ["empty role name", { cluster: { roles: [{ name: "" }] } }, "$.spec.cluster.roles[0].name"],
    ["bad static LSN", { mode: ComputeMode.STATIC, staticLsn: "nonsense" }, "$.spec.static_lsn"],
    ["static_lsn without static mode", { staticLsn: "0/1" }, "$.spec.static_lsn"],
    [
      "delta operation without action",
      { deltaOperations: [{ name: "x" }] },
      "$.spec.delta_operations[0].action",
    ],
    ["neon source without tenant", { source: { kind: { case: "neon", value: {} } } }, "$.spec.tenant_id"],
    ["replica from initdb", { mode: ComputeMode.REPLICA }, "$.spec.mode"],
  ];
  for (const [name, init, path] of cases) {
    const err = await connectError(client.configure({ spec: create(ComputeSpecSchema, init) }));
    assert.equal(err.code, Code.InvalidArgument, name);
    assert.ok(err.rawMessage.startsWith(`invalid spec at ${path}:`), `${name}: ${err.rawMessage}`);
    const [detail] = err.findDetails(SpecViolationSchema);
    assert.equal(detail?.path, path, name);
  }
  const missing = await connectError(client.configure({}));
  assert.equal(missing.code, Code.InvalidArgument);
  assert.equal(h.api.status().status, "empty", "nothing was applied");
  // grpc-js sees the same code.
  const raw = grpcJsClient(grpcJsAddresses(h).unix);
  t.after(() => raw.close());
  await assert.rejects(grpcJsUnary(raw, "configure", { spec: { cluster: { roles: [{ name: "" }] } } }), {
    code: grpc.status.INVALID_ARGUMENT,
  });
});

test("wrong state is FAILED_PRECONDITION; bad intervals INVALID_ARGUMENT; unknown database NOT_FOUND", async (t) => {
  const h = await startGrpcHarness({ stepMs: 1 });
  t.after(() => h.close());
  const client = connectClient("connect", { socketPath: h.socketPath });
  const notRunning = await connectError(client.checkWritability({}));
  assert.equal(notRunning.code, Code.FailedPrecondition);
  assert.equal(notRunning.rawMessage, "invalid compute status: empty");
  for (const intervalMs of [50, 60_001]) {
    const err = await connectError(client.streamMetrics({ intervalMs })[Symbol.asyncIterator]().next());
    assert.equal(err.code, Code.InvalidArgument, `interval ${intervalMs}`);
  }
  const unknownDb = await connectError(
    client.getDatabaseSchema({ database: "nope" })[Symbol.asyncIterator]().next(),
  );
  assert.equal(unknownDb.code, Code.NotFound);
  const promote = await connectError(client.promote({ spec: create(ComputeSpecSchema), walFlushLsn: "0/1" }));
  assert.equal(promote.code, Code.FailedPrecondition);
  await client.terminate({});
  const late = await connectError(client.configure({ spec: create(ComputeSpecSchema) }));
  assert.equal(late.code, Code.FailedPrecondition);
  assert.equal(late.rawMessage, "invalid compute status: terminated");
});

test("unexpected errors are INTERNAL with secrets masked", async (t) => {
  const api = createFakeComputeApi();
  api.metricsSamples = async () => {
    throw new Error("could not connect to postgresql://cloud_admin:hunter2@127.0.0.1:5432/postgres");
  };
  const h = await startGrpcHarness({ api });
  t.after(() => h.close());
  const err = await connectError(
    connectClient("grpc", { tcpUrl: h.tcpUrl })
      .streamMetrics({ intervalMs: 100 })
      [Symbol.asyncIterator]()
      .next(),
  );
  assert.equal(err.code, Code.Internal);
  assert.doesNotMatch(err.rawMessage, /hunter2/);
  assert.match(err.rawMessage, /could not connect to postgresql:\/\/cloud_admin:\*\*\*@/);
  await waitUntil(() => h.api.activeSubscriptions === 0, "the failed stream released its subscription");
});

test("cancelled calls and deadlines end streams and release their subscriptions", async (t) => {
  const h = await startGrpcHarness();
  t.after(() => h.close());
  const client = connectClient("grpc", { tcpUrl: h.tcpUrl });
  const abort = new AbortController();
  const firstMessages = [0, 1, 2].flatMap(() => [
    client.watchStatus({}, { signal: abort.signal })[Symbol.asyncIterator]().next(),
    client.streamMetrics({ intervalMs: 100 }, { signal: abort.signal })[Symbol.asyncIterator]().next(),
  ]);
  for (const first of await Promise.all(firstMessages)) assert.equal(first.done, false);
  await waitUntil(() => h.api.activeSubscriptions === 6, "6 streams subscribed");
  abort.abort();
  await waitUntil(() => h.api.activeSubscriptions === 0, "cancelled streams released their subscriptions");

  // grpc-js cancel, and a deadline.
  const raw = grpcJsClient(grpcJsAddresses(h).unix);
  t.after(() => raw.close());
  const call = raw.watchStatus({});
  const watched = grpcJsStream(call, () => call.cancel());
  assert.equal((await watched).status?.code, grpc.status.CANCELLED);
  // The first snapshot is sent at once; the deadline is far enough out for it on a busy machine.
  const deadline = await grpcJsStream(
    raw.streamMetrics({ intervalMs: 100 }, new grpc.Metadata(), { deadline: Date.now() + 2000 }),
  );
  assert.equal(deadline.status?.code, grpc.status.DEADLINE_EXCEEDED);
  assert.ok(deadline.messages.length >= 1);
  await waitUntil(() => h.api.activeSubscriptions === 0, "grpc-js streams released their subscriptions");
});

test("close() ends open streams and returns promptly despite idle client connections", async () => {
  // A grace far longer than the test: close() must close idle connections and end streams at
  // once, not wait out the grace (nor hang on idle HTTP/2 sessions, which would never end).
  const graceMs = 120_000;
  const h = await startGrpcHarness({ shutdownGraceMs: graceMs });
  const idle = grpcJsClient(grpcJsAddresses(h).tcp);
  await grpcJsUnary(idle, "status", {}); // leaves an idle HTTP/2 connection open
  const watch = grpcJsStream(grpcJsClient(grpcJsAddresses(h).unix).watchStatus({}));
  const curlHttp1 = fetch(`${h.tcpUrl}/compute.v1.ComputeService/Status`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  }).then((r) => r.json());
  assert.ok(((await curlHttp1) as { state: unknown }).state); // keep-alive HTTP/1.1 connection
  await waitUntil(() => h.api.activeSubscriptions === 1, "the watch is subscribed");
  const t0 = performance.now();
  await h.close();
  const took = performance.now() - t0;
  assert.ok(took < graceMs / 4, `close() took ${took} ms: it waited for the ${graceMs} ms grace`);
  const ended = await watch;
  assert.equal(ended.status?.code, grpc.status.UNAVAILABLE, "the stream was cut by the shutdown");
  assert.match(ended.status?.details ?? "", /shutting down/);
  assert.equal(h.api.activeSubscriptions, 0);
  assert.equal(h.server.connectionCount, 0);
  idle.close();
});
