// The LFC RPCs over the API layer (fake compute, test/support/grpc-fake-api.ts): PrewarmLfc and
// OffloadLfc answer at once, a second while one runs is RESOURCE_EXHAUSTED (REST's 429),
// CancelLfcPrewarm ends in CANCELLED, a bad from_endpoint is INVALID_ARGUMENT, and WatchLfc
// streams both states with the prewarm's progress, to an independent client (grpc-js) too.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { LfcOffloadStatus, LfcPrewarmStatus } from "../gen/compute/v1/lfc_pb.js";
import { ComputeSpecSchema } from "../gen/compute/v1/spec_pb.js";
import { createFakeComputeApi, StepGate } from "./support/grpc-fake-api.js";
import {
  connectClient,
  grpcJsAddresses,
  grpcJsClient,
  grpcJsStream,
  startGrpcHarness,
} from "./support/grpc-harness.js";

async function codeOf(p: Promise<unknown>): Promise<Code> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  return Code.Unknown;
}

test("PrewarmLfc / OffloadLfc / CancelLfcPrewarm and their errors; WatchLfc follows the progress", async (t) => {
  // The fake's prewarm and offload steps wait at a gate: "while one runs" is then a fact, not a
  // race against their step time.
  const gate = new StepGate();
  const h = await startGrpcHarness({ api: createFakeComputeApi({ stepMs: 40, gate }) });
  t.after(() => h.close());
  const client = connectClient("grpc", { tcpUrl: h.tcpUrl });
  assert.equal(await codeOf(client.prewarmLfc({})), Code.FailedPrecondition, "not running yet");
  await client.configure({ spec: create(ComputeSpecSchema, { suspendTimeoutSeconds: -1n }) });
  const initial = await client.getLfcPrewarmState({});
  assert.equal(initial.state?.status, LfcPrewarmStatus.NOT_PREWARMED);

  const ac = new AbortController();
  const seen: { status: LfcPrewarmStatus; prewarmed: bigint }[] = [];
  const watching = (async () => {
    try {
      for await (const m of client.watchLfc({}, { signal: ac.signal })) {
        seen.push({ status: m.prewarm?.status ?? 0, prewarmed: m.prewarm?.prewarmed ?? 0n });
        if (m.prewarm?.status === LfcPrewarmStatus.COMPLETED) ac.abort();
      }
    } catch (err) {
      if (!ac.signal.aborted) throw err;
    }
  })();
  gate.close();
  await client.prewarmLfc({});
  assert.equal(await codeOf(client.prewarmLfc({})), Code.ResourceExhausted);
  gate.open();
  await watching;
  assert.equal(seen[0].status, LfcPrewarmStatus.NOT_PREWARMED, "the current state first");
  const progress = seen
    .filter((s) => s.status === LfcPrewarmStatus.PREWARMING)
    .map((s) => Number(s.prewarmed));
  assert.ok(progress.length >= 2 && (progress.at(-1) ?? 0) >= 200, `progress: ${progress}`);
  assert.deepEqual(
    [...progress].sort((a, b) => a - b),
    progress,
    "never backwards",
  );
  const done = (await client.getLfcPrewarmState({})).state;
  assert.deepEqual([done?.status, done?.total, done?.prewarmed], [LfcPrewarmStatus.COMPLETED, 400n, 400n]);

  await client.prewarmLfc({ fromEndpoint: "ep-primary" });
  await client.cancelLfcPrewarm({});
  for (
    const end = Date.now() + 60_000;
    Date.now() < end && (await client.getLfcPrewarmState({})).state?.status !== LfcPrewarmStatus.CANCELLED;
  )
    await new Promise((r) => setTimeout(r, 20));
  assert.equal((await client.getLfcPrewarmState({})).state?.status, LfcPrewarmStatus.CANCELLED);
  assert.equal(await codeOf(client.prewarmLfc({ fromEndpoint: "../x" })), Code.InvalidArgument);

  gate.close();
  await client.offloadLfc({});
  assert.equal(await codeOf(client.offloadLfc({})), Code.ResourceExhausted);
  assert.equal((await client.getLfcOffloadState({})).state?.status, LfcOffloadStatus.OFFLOADING);
  gate.open();
  assert.equal(h.api.activeSubscriptions, 0, "WatchLfc released its subscriptions");
});

test("grpc-js (independent client) reads the states and a WatchLfc stream that ends with the compute", async (t) => {
  const h = await startGrpcHarness({ stepMs: 5 });
  t.after(() => h.close());
  await connectClient("grpc", { tcpUrl: h.tcpUrl }).configure({
    spec: create(ComputeSpecSchema, { suspendTimeoutSeconds: -1n }),
  });
  const c = grpcJsClient(grpcJsAddresses(h).unix);
  t.after(() => c.close());
  const stream = grpcJsStream<{ prewarm: { status: string }; offload: { status: string } }>(c.watchLfc({}));
  await new Promise((r) => setTimeout(r, 50));
  await connectClient("grpc", { tcpUrl: h.tcpUrl }).terminate({});
  const { messages, status } = await stream;
  assert.equal(status?.code, 0, "ends OK when the compute terminates");
  assert.deepEqual(messages[0], {
    prewarm: {
      status: "LFC_PREWARM_STATUS_NOT_PREWARMED",
      total: "0",
      prewarmed: "0",
      skipped: "0",
      stateDownloadTimeMs: 0,
      uncompressTimeMs: 0,
      prewarmTimeMs: 0,
    },
    offload: {
      status: "LFC_OFFLOAD_STATUS_NOT_OFFLOADED",
      stateQueryTimeMs: 0,
      compressTimeMs: 0,
      stateUploadTimeMs: 0,
    },
  });
});
