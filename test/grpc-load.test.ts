// 100 WatchStatus and 100 StreamMetrics streams at once (grpc-js over the Unix socket and
// connect-es gRPC over TCP), with a reconfiguration in the middle: every watcher sees every
// change in order, every metrics stream keeps delivering, nothing errs, and once the clients go
// away no subscription, connection or handle is left behind. (A 30 s soak: bench/grpc.ts --soak.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ComputeSpecSchema } from "../gen/compute/v1/spec_pb.js";
import {
  connectClient,
  grpcJsAddresses,
  grpcJsClient,
  grpcJsStream,
  startGrpcHarness,
} from "./support/grpc-harness.js";

const STREAMS = 100;
const INTERVAL_MS = 100;

const activeHandles = () =>
  (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;

async function settle(cond: () => boolean, ms = 30_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(20);
  return cond();
}

test(`${STREAMS} WatchStatus + ${STREAMS} StreamMetrics streams: in order, every stream delivering, no leaks`, async (t) => {
  const h = await startGrpcHarness({ stepMs: 50 });
  t.after(() => h.close());
  const handlesBefore = activeHandles();

  const unix = grpcJsClient(grpcJsAddresses(h).unix);
  const watches = Array.from({ length: STREAMS }, () => {
    const call = unix.watchStatus({});
    return { call, done: grpcJsStream<{ state: { status: string } }>(call) };
  });
  const abort = new AbortController();
  const metricsClient = connectClient("grpc", { tcpUrl: h.tcpUrl });
  const counts = new Array<number>(STREAMS).fill(0);
  const metrics = counts.map(async (_, i) => {
    try {
      for await (const _ of metricsClient.streamMetrics(
        { intervalMs: INTERVAL_MS },
        { signal: abort.signal },
      ))
        counts[i]++;
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Canceled) throw err;
    }
  });
  // Every stream keeps delivering: each reaches a count of snapshots, before and after the
  // reconfiguration (events, bounded generously: on a busy machine the pace slows for all).
  const everyStreamHas = (n: number) => settle(() => Math.min(...counts) >= n, 60_000);

  assert.ok(await settle(() => h.api.activeSubscriptions === 2 * STREAMS), "all streams subscribed");
  assert.ok(await everyStreamHas(5), `snapshots per stream before Configure: ${Math.min(...counts)}`);
  const spec = create(ComputeSpecSchema, { suspendTimeoutSeconds: -1n });
  await connectClient("grpc", { socketPath: h.socketPath }).configure({ spec });
  const afterConfigure = Math.max(...counts);
  assert.ok(
    await everyStreamHas(afterConfigure + 5),
    `snapshots per stream after Configure: ${Math.min(...counts)}`,
  );

  for (const w of watches) w.call.cancel();
  abort.abort();
  await Promise.all(metrics);
  for (const w of watches) {
    const { messages, status } = await w.done;
    assert.equal(status?.code, 1, "ended by our cancel, not an error"); // CANCELLED
    assert.deepEqual(
      messages.map((m) => m.state.status),
      [
        "COMPUTE_STATUS_EMPTY",
        "COMPUTE_STATUS_CONFIGURATION_PENDING",
        "COMPUTE_STATUS_INIT",
        "COMPUTE_STATUS_RUNNING",
      ],
    );
  }
  assert.ok(
    await settle(() => h.api.activeSubscriptions === 0),
    `${h.api.activeSubscriptions} subscriptions left`,
  );

  unix.close();
  await h.server.close(); // also ends the connect client's idle HTTP/2 session
  assert.equal(h.server.connectionCount, 0);
  assert.ok(
    await settle(() => activeHandles() <= handlesBefore),
    `active handles grew from ${handlesBefore} to ${activeHandles()}`,
  );
});
