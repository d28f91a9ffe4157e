// Memory-pressure detection against a fake cgroup directory whose memory.stat the test rewrites,
// observed through a protocol-level fake autoscaler-agent.
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { startVmMonitor } from "../src/autoscaling/index.js";
import { FakeAutoscalerAgent } from "./support/fake-autoscaler-agent.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function writeMemoryStat(dir: string, lines: string[]): void {
  writeFileSync(path.join(dir, "memory.stat.tmp"), `${lines.join("\n")}\n`);
  renameSync(path.join(dir, "memory.stat.tmp"), path.join(dir, "memory.stat"));
}

function writeAnon(dir: string, anonBytes: number): void {
  const active = Math.floor(anonBytes / 2);
  writeMemoryStat(dir, [
    `anon ${anonBytes}`,
    `file ${2 * GiB}`, // page cache: must not count
    `inactive_anon ${anonBytes - active}`,
    `active_anon ${active}`,
    `inactive_file ${GiB}`,
    `active_file ${GiB}`,
  ]);
}

async function withMonitor(
  cgroupDir: string,
  fn: (agent: FakeAutoscalerAgent) => Promise<void>,
): Promise<void> {
  const monitor = await startVmMonitor({
    addr: "127.0.0.1:0",
    cgroup: cgroupDir,
    connstr: "postgresql://unused@127.0.0.1:1/postgres",
    disableLfcResizing: true,
    log,
    totalMemoryBytes: 8 * GiB,
  });
  let agent: FakeAutoscalerAgent | undefined;
  try {
    agent = await FakeAutoscalerAgent.connect(`ws://127.0.0.1:${monitor.port}/monitor`);
    await fn(agent);
  } finally {
    await agent?.close();
    await monitor.close();
  }
}

function tempCgroup(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cct-cgroup-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("crossing 85% of usable memory yields one UpscaleRequest per second with odd increasing ids; falling below stops them (protocol-level fake autoscaler-agent)", async (t) => {
  const dir = tempCgroup(t);
  writeAnon(dir, 100 * MiB);
  await withMonitor(dir, async (agent) => {
    // Granted 1 GiB -> usable 924 MiB -> threshold 785.4 MiB.
    assert.equal((await agent.upscaleNotification({ cpu: 0.25, mem: GiB })).type, "UpscaleConfirmation");
    await sleep(1_000);
    assert.equal(agent.upscaleRequests.length, 0, "no pressure below the threshold");

    writeAnon(dir, 900 * MiB);
    await agent.waitFor((m) => m.message.type === "UpscaleRequest", 3_000, "first UpscaleRequest");
    await sleep(3_300);
    writeAnon(dir, 100 * MiB);
    await sleep(1_000); // the rolling mean of 5 samples drains within 0.5 s
    const whilePressured = agent.upscaleRequests.length;
    await sleep(2_500);
    assert.equal(agent.upscaleRequests.length, whilePressured, "no UpscaleRequest after usage fell below");

    const requests = agent.upscaleRequests;
    assert.ok(
      requests.length >= 3 && requests.length <= 6,
      `${requests.length} requests in ~4.3 s of pressure`,
    );
    assert.deepEqual(
      requests.map((r) => r.message.id),
      requests.map((_, i) => 3 + 2 * i),
      "odd ids 3, 5, 7, ... (the agent's are even)",
    );
    for (const r of requests) assert.match(r.raw, /^\{"type":"UpscaleRequest","id":\d+\}$/);
    for (let i = 1; i < requests.length; i++) {
      const gap = (requests[i]?.at ?? 0) - (requests[i - 1]?.at ?? 0);
      assert.ok(gap >= 900 && gap < 1_800, `gap ${Math.round(gap)} ms between requests ${i - 1} and ${i}`);
    }
    assert.deepEqual(agent.violations, []);
  });
});

test("without enough memory samples a downscale is denied, and stale samples are an InternalError (protocol-level fake autoscaler-agent)", async (t) => {
  const dir = tempCgroup(t);
  // Present but without the anon counters: every sample is skipped.
  writeMemoryStat(dir, ["anon 0", "file 0"]);
  await withMonitor(dir, async (agent) => {
    const denied = await agent.downscaleRequest({ cpu: 1, mem: 4 * GiB });
    assert.equal(denied.type, "DownscaleResult");
    assert.equal(denied.Ok, false);
    assert.equal(denied.Status, "haven't received enough cgroup memory stats yet");
    await sleep(5_300);
    const failed = await agent.downscaleRequest({ cpu: 1, mem: 4 * GiB });
    assert.equal(failed.type, "InternalError");
    assert.match(
      String(failed.error),
      /haven't gotten cgroup memory stats recently enough to determine downscaling information/,
    );
    assert.deepEqual(agent.violations, []);
  });
});

test("a missing cgroup: no pressure detection, downscale allowed with the reason (protocol-level fake autoscaler-agent)", async (t) => {
  const dir = tempCgroup(t); // no memory.stat in it
  await withMonitor(path.join(dir, "does-not-exist"), async (agent) => {
    assert.equal((await agent.upscaleNotification({ cpu: 1, mem: 4 * GiB })).type, "UpscaleConfirmation");
    const result = await agent.downscaleRequest({ cpu: 0.25, mem: GiB });
    assert.equal(result.Ok, true);
    assert.match(
      String(result.Status),
      /^monitor is not managing cgroup or file cache \(cgroup: .*memory\.stat/,
    );
    assert.match(String(result.Status), /disable_lfc_resizing/);
    assert.equal(agent.upscaleRequests.length, 0);
  });
});
