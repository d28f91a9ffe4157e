// Memory-pressure detection against a fake cgroup directory whose memory.stat the test rewrites,
// observed through a protocol-level fake autoscaler-agent.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { constants, linkSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { type Logger, pino } from "pino";
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

async function withMonitor(
  cgroupDir: string,
  fn: (agent: FakeAutoscalerAgent) => Promise<void>,
  monitorLog: Logger = log,
): Promise<void> {
  const monitor = await startVmMonitor({
    addr: "127.0.0.1:0",
    cgroup: cgroupDir,
    connstr: "postgresql://unused@127.0.0.1:1/postgres",
    disableLfcResizing: true,
    log: monitorLog,
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

/**
 * memory.stat as a FIFO the test writes: each read by the watcher gets exactly one sample, so the
 * test knows how many samples the monitor has seen instead of guessing from its 100 ms period.
 */
class FakeMemoryStat {
  readonly path: string;
  anonBytes: number;
  served = 0;
  #stopped = false;
  #loop: Promise<void>;
  #waiters: (() => void)[] = [];

  constructor(dir: string, anonBytes: number) {
    this.path = path.join(dir, "memory.stat");
    execFileSync("mkfifo", [this.path]);
    this.anonBytes = anonBytes;
    this.#loop = this.#serve();
  }

  async #serve(): Promise<void> {
    while (!this.#stopped) {
      // Blocks (on a libuv thread) until the watcher opens the FIFO to read a sample.
      const fh = await open(this.path, "w");
      const active = Math.floor(this.anonBytes / 2);
      const written = fh.writeFile(
        [
          `anon ${this.anonBytes}`,
          `file ${2 * GiB}`, // page cache: must not count
          `inactive_anon ${this.anonBytes - active}`,
          `active_anon ${active}`,
          `inactive_file ${GiB}`,
          `active_file ${GiB}`,
          "",
        ].join("\n"),
      );
      try {
        await written;
      } catch (err) {
        // A reader that went away before reading (the monitor closing) is not a sample.
        if ((err as NodeJS.ErrnoException).code !== "EPIPE") throw err;
        await fh.close();
        continue;
      }
      await fh.close();
      this.served++;
      for (const w of this.#waiters.splice(0)) w();
    }
  }

  /** Waits until `n` more samples were read (the watcher handles each before it reads the next). */
  async samples(n: number): Promise<void> {
    const target = this.served + n;
    const deadline = Date.now() + 60_000;
    while (this.served < target) {
      if (Date.now() > deadline)
        throw new Error(`the watcher read ${this.served} of ${target} samples in 60 s`);
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 1000);
      });
    }
  }

  /**
   * Ends the writer loop and leaves no open of the FIFO waiting (a blocked open would keep the
   * process alive): a regular file replaces it for any later read, and through a second link to
   * the FIFO a non-blocking reader releases our writer and a non-blocking writer releases a reader
   * the monitor may still have waiting.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    const alias = `${this.path}.fifo`;
    linkSync(this.path, alias);
    writeFileSync(`${this.path}.tmp`, "");
    renameSync(`${this.path}.tmp`, this.path);
    const reader = await open(alias, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = await open(alias, constants.O_WRONLY | constants.O_NONBLOCK);
    await writer.close();
    await this.#loop;
    await reader.close();
    unlinkSync(alias);
  }
}

test("crossing 85% of usable memory yields one UpscaleRequest per second with odd increasing ids; falling below stops them (protocol-level fake autoscaler-agent)", async (t) => {
  const dir = tempCgroup(t);
  const stat = new FakeMemoryStat(dir, 100 * MiB);
  // The monitor's own log says when it sent each request (its clock, not the delivery's).
  const logLines: { msg: string; time: number; id?: number }[] = [];
  const sendLog = pino(
    { level: "info" },
    {
      write: (line: string) => {
        logLines.push(JSON.parse(line));
      },
    },
  );
  try {
    await withMonitor(
      dir,
      async (agent) => {
        // Granted 1 GiB -> usable 924 MiB -> threshold 785.4 MiB.
        assert.equal((await agent.upscaleNotification({ cpu: 0.25, mem: GiB })).type, "UpscaleConfirmation");
        await stat.samples(10);
        // A request sent while a sample was handled would reach the agent before this answer.
        await agent.healthCheck();
        assert.equal(agent.upscaleRequests.length, 0, "no pressure below the threshold");

        stat.anonBytes = 900 * MiB;
        await agent.waitFor((m) => m.message.type === "UpscaleRequest", 60_000, "first UpscaleRequest");
        // They keep coming while the pressure lasts.
        await agent.waitFor(
          () => agent.upscaleRequests.length >= 4,
          60_000,
          "four UpscaleRequests under pressure",
        );
        stat.anonBytes = 100 * MiB;
        // The rolling mean covers 5 samples: after 5 low ones it is below the threshold.
        await stat.samples(6);
        await agent.healthCheck();
        const whilePressured = agent.upscaleRequests.length;
        await stat.samples(15);
        await agent.healthCheck();
        assert.equal(
          agent.upscaleRequests.length,
          whilePressured,
          "no UpscaleRequest after usage fell below",
        );

        const requests = agent.upscaleRequests;
        assert.deepEqual(
          requests.map((r) => r.message.id),
          requests.map((_, i) => 3 + 2 * i),
          "odd ids 3, 5, 7, ... (the agent's are even)",
        );
        for (const r of requests) assert.match(r.raw, /^\{"type":"UpscaleRequest","id":\d+\}$/);
        // At most one per second, by the monitor's clock when it sent them.
        const sent = logLines.filter((l) => l.msg.includes("requesting upscale"));
        assert.deepEqual(
          sent.map((l) => l.id),
          requests.map((r) => r.message.id),
        );
        for (let i = 1; i < sent.length; i++) {
          const gap = sent[i].time - sent[i - 1].time;
          assert.ok(gap >= 990, `${gap} ms between requests ${i - 1} and ${i}`);
        }
        assert.deepEqual(agent.violations, []);
      },
      sendLog,
    );
  } finally {
    await stat.stop();
  }
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
