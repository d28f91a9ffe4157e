// The compute API through independent clients: connect-es (Connect, gRPC, gRPC-Web; HTTP/2 and
// HTTP/1.1), @grpc/grpc-js over TCP and unix://, and curl (Connect JSON, gRPC-Web binary,
// Connect streaming) on one TCP port and one Unix socket. The lifecycle runs on the in-memory
// compute (real state machine and spec parser): Configure -> WatchStatus sees the states in
// order -> StreamMetrics at the asked interval -> Terminate ends the streams.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  StatusRequestSchema,
  StatusResponseSchema,
  TerminateMode,
} from "../gen/compute/v1/compute_service_pb.js";
import { ComputeMode, ComputeSpecSchema } from "../gen/compute/v1/spec_pb.js";
import { ComputeStatus } from "../gen/compute/v1/status_pb.js";
import { curlConnectJson, curlConnectStream, curlGrpcWeb } from "./support/grpc-curl.js";
import {
  connectClient,
  grpcJsAddresses,
  grpcJsClient,
  grpcJsStream,
  grpcJsUnary,
  type Protocol,
  startGrpcHarness,
  waitUntil,
} from "./support/grpc-harness.js";

const spec = () =>
  create(ComputeSpecSchema, {
    suspendTimeoutSeconds: -1n,
    mode: ComputeMode.PRIMARY,
    cluster: {
      roles: [{ name: "app", encryptedPassword: "SCRAM-SHA-256$4096:c2FsdA==$a:b" }],
      databases: [{ name: "appdb", owner: "app" }],
    },
  });

test("every client and protocol reaches the API on TCP and on the Unix socket", async (t) => {
  const h = await startGrpcHarness();
  t.after(() => h.close());
  const targets = [{ tcpUrl: h.tcpUrl }, { socketPath: h.socketPath }];
  const protocols: Protocol[] = ["connect", "connect-http1", "grpc", "grpc-web", "grpc-web-http1"];
  for (const target of targets) {
    const where = Object.keys(target)[0];
    for (const protocol of protocols) {
      const res = await connectClient(protocol, target).status({});
      assert.equal(res.state?.status, ComputeStatus.EMPTY, `${protocol} over ${where}`);
    }
    // curl: Connect unary JSON over HTTP/1.1 and over HTTP/2 prior knowledge.
    for (const http2 of [false, true]) {
      const { status, json } = await curlConnectJson(target, "Status", {}, { http2 });
      assert.equal(status, 200);
      assert.equal(
        (json.state as { status: string }).status,
        "COMPUTE_STATUS_EMPTY",
        `curl http2=${http2} ${where}`,
      );
    }
    // curl: gRPC-Web with a hand-made binary frame; the reply is a data frame and a trailer frame.
    const frames = await curlGrpcWeb(
      target,
      "Status",
      toBinary(StatusRequestSchema, create(StatusRequestSchema)),
    );
    assert.equal(frames.length, 2);
    assert.equal(frames[0].flags, 0);
    assert.equal(fromBinary(StatusResponseSchema, frames[0].payload).state?.status, ComputeStatus.EMPTY);
    assert.equal(frames[1].flags, 0x80);
    assert.match(frames[1].payload.toString(), /grpc-status: ?0/);
  }
  for (const address of Object.values(grpcJsAddresses(h))) {
    const client = grpcJsClient(address);
    try {
      const res = await grpcJsUnary<{ state: { status: string } }>(client, "status", {});
      assert.equal(res.state.status, "COMPUTE_STATUS_EMPTY", address);
    } finally {
      client.close();
    }
  }
});

test("Configure -> WatchStatus in order -> StreamMetrics at the interval -> Terminate ends the streams", async (t) => {
  const h = await startGrpcHarness({ stepMs: 50 });
  t.after(() => h.close());
  const addresses = grpcJsAddresses(h);
  const unix = grpcJsClient(addresses.unix);
  const tcp = grpcJsClient(addresses.tcp);
  t.after(() => {
    unix.close();
    tcp.close();
  });

  // Three independent watchers, each established (first message in) before Configure.
  let grpcJsFirst!: () => void;
  const grpcJsReady = new Promise<void>((r) => {
    grpcJsFirst = r;
  });
  const grpcJsWatch = grpcJsStream<{ state: { status: string } }>(unix.watchStatus({}), () => grpcJsFirst());
  const curlWatch = curlConnectStream({ socketPath: h.socketPath }, "WatchStatus", {});
  let connectFirst!: () => void;
  const connectReady = new Promise<void>((r) => {
    connectFirst = r;
  });
  const connectWatch = (async () => {
    const seen: ComputeStatus[] = [];
    for await (const res of connectClient("grpc-web", { tcpUrl: h.tcpUrl }).watchStatus({})) {
      seen.push(res.state?.status ?? ComputeStatus.UNSPECIFIED);
      connectFirst();
    }
    return seen;
  })();
  await Promise.all([grpcJsReady, connectReady, curlWatch.received(1)]);

  const configured = await connectClient("connect", { tcpUrl: h.tcpUrl }).configure({ spec: spec() });
  assert.equal(configured.state?.status, ComputeStatus.RUNNING);
  // The fake's two 50 ms steps, as the core recorded them.
  assert.equal(configured.state?.timings.total_startup_ms, h.api.timings().total_startup_ms);
  assert.ok((configured.state?.timings.total_startup_ms ?? 0) >= 100);
  assert.deepEqual(
    h.api.lastSpec?.json.cluster.roles.map((r) => r.name),
    ["app"],
  );

  // StreamMetrics at 200 ms: at least 3 snapshots, spaced by about the interval.
  const stream = tcp.streamMetrics({ intervalMs: 200 });
  const collected = await grpcJsStream<{ snapshot: { time: { seconds: string; nanos: number } } }>(
    stream,
    (_m, all) => {
      if (all.length === 4) stream.cancel();
    },
  );
  assert.ok(collected.messages.length >= 3, `got ${collected.messages.length} snapshots`);
  const times = collected.messages.map(
    (m) => Number(m.snapshot.time.seconds) * 1000 + m.snapshot.time.nanos / 1e6,
  );
  // Snapshots sit on a 200 ms grid from the first: never ahead of it (load cannot move that),
  // behind it only as far as a busy machine delays timers (bounded generously).
  for (const [i, x] of times.entries())
    assert.ok(x - times[0] >= i * 200 - 50, `snapshot ${i} at +${x - times[0]} ms, ahead of the grid`);
  const meanGap = (times[times.length - 1] - times[0]) / (times.length - 1);
  assert.ok(meanGap < 1000, `mean gap ${meanGap} ms for a 200 ms interval`);

  // Streams open across Terminate end when the compute terminates.
  const tailMetrics = grpcJsStream(tcp.streamMetrics({ intervalMs: 100 }));
  const terminated = await connectClient("grpc", { socketPath: h.socketPath }).terminate({
    mode: TerminateMode.FAST,
  });
  assert.equal(terminated.lsn, "0/16B5BA8");
  assert.equal(terminated.alreadyTerminated, false);

  const expected = [
    "COMPUTE_STATUS_EMPTY",
    "COMPUTE_STATUS_CONFIGURATION_PENDING",
    "COMPUTE_STATUS_INIT",
    "COMPUTE_STATUS_RUNNING",
    "COMPUTE_STATUS_TERMINATION_PENDING_FAST",
    "COMPUTE_STATUS_TERMINATED",
  ];
  const viaGrpcJs = await grpcJsWatch;
  assert.equal(viaGrpcJs.status?.code, 0);
  assert.deepEqual(
    viaGrpcJs.messages.map((m) => m.state.status),
    expected,
  );
  const viaCurl = await curlWatch.done;
  assert.deepEqual(viaCurl.end, {});
  assert.deepEqual(
    curlWatch.messages.map((m) => (m as { state: { status: string } }).state.status),
    expected,
  );
  assert.deepEqual(
    (await connectWatch).map((s) => `COMPUTE_STATUS_${ComputeStatus[s]}`),
    expected,
  );
  const tail = await tailMetrics;
  assert.equal(tail.status?.code, 0, "StreamMetrics ends OK when the compute terminates");

  const again = await connectClient("connect-http1", { tcpUrl: h.tcpUrl }).terminate({});
  assert.deepEqual([again.lsn, again.alreadyTerminated], ["0/16B5BA8", true]);
  const { json } = await curlConnectJson({ tcpUrl: h.tcpUrl }, "Status", {});
  const state = json.state as { status: string; startTime: string };
  assert.equal(state.status, "COMPUTE_STATUS_TERMINATED");
  const configuredStart = configured.state?.startTime;
  assert.ok(configuredStart);
  assert.equal(Date.parse(state.startTime), timestampDate(configuredStart).getTime());
  await waitUntil(() => h.api.activeSubscriptions === 0, "every stream released its subscription");
});

test("ListDatabasesAndRoles, GetDatabaseSchema, GetInsights, GetInfo, CheckWritability", async (t) => {
  const h = await startGrpcHarness({ stepMs: 1 });
  t.after(() => h.close());
  const client = connectClient("grpc", { socketPath: h.socketPath });
  await client.configure({ spec: spec() });
  const listed = await client.listDatabasesAndRoles({});
  assert.deepEqual(
    listed.roles.map((r) => r.name),
    ["postgres", "app"],
  );
  assert.deepEqual(
    listed.databases.map((d) => [d.name, d.owner, d.restrictConn, d.invalid]),
    [
      ["postgres", "postgres", false, false],
      ["appdb", "app", false, false],
    ],
  );
  let dump = "";
  for await (const chunk of client.getDatabaseSchema({ database: "appdb" })) dump += Buffer.from(chunk.chunk);
  assert.match(dump, /-- schema of appdb\nCREATE TABLE t/);
  const insights = await client.getInsights({});
  assert.deepEqual(insights.statements, [
    { queryid: "42", query: "SELECT 1", calls: 3, mean_exec_time: 0.5 },
  ]);
  const info = await client.getInfo({});
  assert.deepEqual([info.numCpus, info.memoryBytes, info.pgVersion], [2, 1n << 30n, "15.0"]);
  await client.checkWritability({});
});

test("Promote turns a replica into a primary with the new spec", async (t) => {
  const h = await startGrpcHarness({ stepMs: 1 });
  t.after(() => h.close());
  const client = connectClient("connect", { tcpUrl: h.tcpUrl });
  await client.configure({
    spec: create(ComputeSpecSchema, {
      mode: ComputeMode.REPLICA,
      source: { kind: { case: "primary", value: { connstring: "host=primary user=repl" } } },
    }),
  });
  const promoted = await client.promote({ spec: spec(), walFlushLsn: "0/3000000" });
  assert.deepEqual(
    [promoted.lsnWaitTimeMs, promoted.pgPromoteTimeMs, promoted.reconfigureTimeMs, promoted.lsn],
    [1, 2, 3, "0/3000060"],
  );
  assert.deepEqual(h.api.lastSpec?.mode, { kind: "primary" });
});

test("WatchStatus ends after FAILED, carrying the error", async (t) => {
  const h = await startGrpcHarness();
  t.after(() => h.close());
  const seen: [ComputeStatus | undefined, string | undefined][] = [];
  const watch = (async () => {
    for await (const res of connectClient("grpc", { socketPath: h.socketPath }).watchStatus({})) {
      seen.push([res.state?.status, res.state?.error]);
      if (seen.length === 1) {
        h.api.machine.transition("init");
        h.api.machine.transition("failed", { error: "could not start postgres: exit code 1" });
      }
    }
  })();
  await watch; // ends by itself: FAILED is terminal
  assert.deepEqual(seen, [
    [ComputeStatus.EMPTY, undefined],
    [ComputeStatus.INIT, undefined],
    [ComputeStatus.FAILED, "could not start postgres: exit code 1"],
  ]);
});
