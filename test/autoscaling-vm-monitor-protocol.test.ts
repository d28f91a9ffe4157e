// vm-monitor wire protocol against a protocol-level fake autoscaler-agent: handshake, every v1
// message type, ids, undecodable input, connection replacement and the 4 s set-up bound.
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import WebSocket from "ws";
import { startVmMonitor, type VmMonitor } from "../src/autoscaling/index.js";
import { FakeAutoscalerAgent, negotiate } from "./support/fake-autoscaler-agent.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function writeMemoryStat(dir: string, activeAnon: number, inactiveAnon: number): void {
  // A cgroup v2 memory.stat excerpt; the monitor must use only active_anon + inactive_anon.
  const text = [
    `anon ${activeAnon + inactiveAnon}`,
    `file ${512 * MiB}`,
    "kernel 1048576",
    "shmem 0",
    `inactive_anon ${inactiveAnon}`,
    `active_anon ${activeAnon}`,
    `inactive_file ${256 * MiB}`,
    `active_file ${256 * MiB}`,
    "unevictable 0",
  ].join("\n");
  writeFileSync(path.join(dir, "memory.stat.tmp"), `${text}\n`);
  // rename: the monitor never reads a half-written file
  renameSync(path.join(dir, "memory.stat.tmp"), path.join(dir, "memory.stat"));
}

describe("vm-monitor protocol (protocol-level fake autoscaler-agent)", () => {
  let monitor: VmMonitor;
  let cgroupDir: string;
  let url: string;

  before(async () => {
    cgroupDir = mkdtempSync(path.join(os.tmpdir(), "cct-cgroup-"));
    // 900 MiB of non-reclaimable memory; 8 GiB machine -> threshold 6963.2 MiB, no pressure.
    writeMemoryStat(cgroupDir, 600 * MiB, 300 * MiB);
    monitor = await startVmMonitor({
      addr: "127.0.0.1:0",
      cgroup: cgroupDir,
      connstr: "postgresql://unused@127.0.0.1:1/postgres",
      disableLfcResizing: true,
      log,
      totalMemoryBytes: 8 * GiB,
    });
    url = `ws://127.0.0.1:${monitor.port}/monitor`;
  });

  after(async () => {
    await monitor?.close();
    rmSync(cgroupDir, { recursive: true, force: true });
  });

  test('negotiation: {min:1,max:1} -> {"version":1}', async (t) => {
    const n = await negotiate(url, { min: 1, max: 1 });
    t.after(() => n.ws.terminate());
    assert.equal(n.raw, '{"version":1}');
    assert.equal(n.version, 1);
  });

  test('negotiation: non-overlapping ranges -> {"error"} and the monitor drops the connection', async () => {
    const n = await negotiate(url, { min: 2, max: 3 });
    assert.equal(n.version, undefined);
    assert.equal(
      n.error,
      "Received protocol version range <unknown: 2> to <unknown: 3> which does not overlap with v1.0",
    );
    const closed = await n.closed;
    assert.equal(closed.code, 1002);
    const below = await negotiate(url, { min: 0, max: 0 });
    assert.match(
      below.error ?? "",
      /^Received protocol version range <invalid: zero> which does not overlap with v1\.0$/,
    );
    await below.closed;
    const inverted = await negotiate(url, { min: 1, max: 0 });
    assert.match(inverted.error ?? "", /min version = v1\.0 is greater than max version = <invalid: zero>/);
    await inverted.closed;
  });

  test("health checks every 100 ms for 10 s are all answered with the same id", async (t) => {
    const agent = await FakeAutoscalerAgent.connect(url);
    t.after(() => agent.close());
    const replies: Promise<{ type: string; id: number }>[] = [];
    for (let i = 0; i < 100; i++) {
      replies.push(agent.healthCheck());
      await sleep(100);
    }
    const answers = await Promise.all(replies);
    // The agent's ids: 2, 4, ..., 200; each reply carries its request's id.
    const sentIds = Array.from({ length: 100 }, (_, i) => 2 * (i + 1));
    assert.deepEqual(
      answers.map((a) => a.type),
      Array(100).fill("HealthCheck"),
    );
    assert.deepEqual(
      answers.map((a) => a.id),
      sentIds,
    );
    assert.equal(
      agent.received
        .filter((m) => m.message.type === "HealthCheck")
        .every((m) => /^\{"type":"HealthCheck","id":\d+\}$/.test(m.raw)),
      true,
    );
    assert.deepEqual(agent.violations, []);
  });

  test("UpscaleNotification -> UpscaleConfirmation with the same id", async (t) => {
    const agent = await FakeAutoscalerAgent.connect(url);
    t.after(() => agent.close());
    await agent.healthCheck(); // id 2
    const reply = await agent.upscaleNotification({ cpu: 1, mem: 4 * GiB }); // id 4
    assert.equal(reply.type, "UpscaleConfirmation");
    assert.equal(reply.id, 4);
    assert.ok(agent.received.some((m) => m.raw === '{"type":"UpscaleConfirmation","id":4}'));
    assert.deepEqual(agent.violations, []);
  });

  test("DownscaleRequest denied and approved with Neon's Status texts (capitalised Ok/Status)", async (t) => {
    const agent = await FakeAutoscalerAgent.connect(url);
    t.after(() => agent.close());
    // 1 GiB: usable 924 MiB, threshold 0.85 x 924 = 785.4 MiB < 900 + 100 -> denied.
    const denied = await agent.downscaleRequestWhenSampled({ cpu: 0.25, mem: 1 * GiB });
    assert.equal(denied.type, "DownscaleResult");
    assert.equal(denied.Ok, false);
    assert.equal(
      denied.Status,
      "calculated memory threshold too low: 785.4 MiB (new threshold) < 900 (current usage) + 100 (downscale buffer)",
    );
    const raw = agent.received.find((m) => m.message.id === denied.id)?.raw;
    assert.equal(
      raw,
      `{"type":"DownscaleResult","Ok":false,"Status":${JSON.stringify(denied.Status)},"id":${denied.id}}`,
    );

    // 4 GiB: usable 3996 MiB, threshold 3396.6 MiB >= 1000 MiB -> approved.
    const approved = await agent.downscaleRequest({ cpu: 1, mem: 4 * GiB });
    assert.equal(approved.Ok, true);
    assert.equal(
      approved.Status,
      "file cache not resized: file cache resizing is disabled by the compute spec (disable_lfc_resizing); " +
        "set cgroup memory threshold from 6963.2 MiB to 3396.6 MiB, of new total 3996 MiB",
    );
    assert.deepEqual(agent.violations, []);
  });

  test("undecodable messages -> InvalidMessage, and the connection stays usable", async (t) => {
    const agent = await FakeAutoscalerAgent.connect(url);
    t.after(() => agent.close());
    agent.sendRaw("this is not json");
    const first = await agent.waitFor((m) => m.message.type === "InvalidMessage", 30_000, "InvalidMessage");
    assert.match(String(first.message.error), /failed to deserialize text message/);
    assert.equal(first.message.id, 0);

    agent.sendRaw(FakeAutoscalerAgent.serialize("NoSuchType", {}, 42));
    const second = await agent.waitFor(
      (m) => m.message.type === "InvalidMessage" && m.message.id === 42,
      30_000,
      "InvalidMessage for id 42",
    );
    assert.match(String(second.message.error), /unknown message type "NoSuchType"/);

    agent.sendRaw(FakeAutoscalerAgent.serialize("DownscaleRequest", { target: { cpu: 1 } }, 44));
    const third = await agent.waitFor((m) => m.message.id === 44, 30_000, "reply to a bad DownscaleRequest");
    assert.equal(third.message.type, "InvalidMessage");

    // Binary frames after the handshake are ignored; the agent's own notifications get no reply.
    agent.sendRaw(Buffer.from([1, 2, 3]));
    agent.sendInvalidMessage(7, "monitor sent something odd");
    agent.sendInternalError(9, "agent failed");

    const hc = await agent.healthCheck();
    assert.equal(hc.type, "HealthCheck");
    assert.equal(agent.ws.readyState, WebSocket.OPEN);
    assert.equal(agent.invalidMessages.length, 3);
    assert.deepEqual(agent.violations, []);
  });

  test("a second connection replaces the first, which is closed properly", async (t) => {
    const first = await FakeAutoscalerAgent.connect(url);
    t.after(() => first.close());
    assert.equal((await first.healthCheck()).type, "HealthCheck");
    const second = await FakeAutoscalerAgent.connect(url);
    t.after(() => second.close());
    const closed = await first.closed;
    assert.equal(closed.code, 1000);
    assert.match(closed.reason, /new connection/);
    assert.equal((await second.healthCheck()).type, "HealthCheck");
    assert.deepEqual(second.violations, []);
  });

  test("connection set-up is bounded to 4 s", async () => {
    const ws = new WebSocket(url);
    ws.on("error", () => {});
    const started = performance.now();
    const closed = await new Promise<{ code: number; reason: string }>((resolve) =>
      ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    const elapsed = performance.now() - started;
    // Not before the 4 s bound (timers never fire early); after it only as late as a busy machine makes it.
    assert.ok(elapsed >= 3_900 && elapsed < 60_000, `closed after ${elapsed} ms`);
    assert.match(closed.reason, /timed out/);
  });
});
