// The gRPC/Connect API of the real agent (real Postgres) through independent clients: connect-es
// over the Unix socket, @grpc/grpc-js over TCP and unix://, and curl (Connect JSON over HTTP/1.1,
// gRPC-Web). An empty compute: Configure -> WatchStatus sees configuration_pending,
// configuration and running in order -> StreamMetrics delivers snapshots -> Terminate ends the stream.
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { after, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  StatusRequestSchema,
  StatusResponseSchema,
  TerminateMode,
} from "../gen/compute/v1/compute_service_pb.js";
import { ComputeMode, ComputeSpecSchema } from "../gen/compute/v1/spec_pb.js";
import { ComputeStatus } from "../gen/compute/v1/status_pb.js";
import { type RunningAgent, startAgent } from "./support/agent.js";
import { curlConnectJson, curlGrpcWeb } from "./support/grpc-curl.js";
import { connectClient, grpcJsClient, grpcJsStream, grpcJsUnary } from "./support/grpc-harness.js";

const agents: RunningAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
});

async function grpcUp(agent: RunningAgent): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await connectClient("grpc", { socketPath: agent.grpcSocket }).status({});
      return;
    } catch (err) {
      if (Date.now() > deadline) assert.fail(`gRPC socket never answered: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

test("real agent: Configure -> WatchStatus in order -> StreamMetrics -> Terminate ends the streams", async () => {
  const agent = await startAgent({ name: "grpc-agent" });
  agents.push(agent);
  await grpcUp(agent);
  assert.equal(statSync(agent.grpcSocket).mode & 0o777, 0o600);

  // curl: Connect JSON over HTTP/1.1 on TCP, and gRPC-Web with a binary frame on the socket.
  const { status, json } = await curlConnectJson(
    { tcpUrl: `http://127.0.0.1:${agent.grpcPort}` },
    "Status",
    {},
  );
  assert.equal(status, 200);
  assert.equal((json.state as { status: string }).status, "COMPUTE_STATUS_EMPTY");
  const frames = await curlGrpcWeb(
    { socketPath: agent.grpcSocket },
    "Status",
    toBinary(StatusRequestSchema, create(StatusRequestSchema)),
  );
  assert.equal(fromBinary(StatusResponseSchema, frames[0].payload).state?.status, ComputeStatus.EMPTY);

  const tcp = grpcJsClient(`127.0.0.1:${agent.grpcPort}`);
  const unix = grpcJsClient(`unix://${agent.grpcSocket}`);
  try {
    let first!: () => void;
    const ready = new Promise<void>((r) => {
      first = r;
    });
    const watch = grpcJsStream<{ state: { status: string } }>(unix.watchStatus({}), () => first());
    await ready;

    const spec = create(ComputeSpecSchema, {
      suspendTimeoutSeconds: -1n,
      mode: ComputeMode.PRIMARY,
      cluster: {
        roles: [{ name: "grpc_role" }],
        databases: [{ name: "grpc_db", owner: "grpc_role" }],
        postgresqlConf:
          "listen_addresses = '127.0.0.1'\nfsync = off\nshared_buffers = 16MB\nmax_connections = 50",
      },
    });
    const configured = await connectClient("connect", { socketPath: agent.grpcSocket }).configure({ spec });
    assert.equal(configured.state?.status, ComputeStatus.RUNNING);
    const [db] = await agent.query<{ owner: string }>(
      "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'grpc_db'",
    );
    assert.equal(db.owner, "grpc_role");

    const viaTcp = await grpcJsUnary<{ state: { status: string } }>(tcp, "status", {});
    assert.equal(viaTcp.state.status, "COMPUTE_STATUS_RUNNING");

    const stream = tcp.streamMetrics({ intervalMs: 200 });
    const collected = await grpcJsStream<{ snapshot: unknown }>(stream, (_m, all) => {
      if (all.length === 3) stream.cancel();
    });
    assert.ok(collected.messages.length >= 3, `got ${collected.messages.length} snapshots`);

    const terminated = await connectClient("grpc", { socketPath: agent.grpcSocket }).terminate({
      mode: TerminateMode.FAST,
    });
    assert.equal(terminated.alreadyTerminated, false);
    const seen = (await watch).messages.map((m) => m.state.status);
    assert.deepEqual(seen, [
      "COMPUTE_STATUS_EMPTY",
      "COMPUTE_STATUS_CONFIGURATION_PENDING",
      "COMPUTE_STATUS_INIT",
      "COMPUTE_STATUS_RUNNING",
      "COMPUTE_STATUS_TERMINATION_PENDING_FAST",
      "COMPUTE_STATUS_TERMINATED",
    ]);
  } finally {
    tcp.close();
    unix.close();
  }
});
