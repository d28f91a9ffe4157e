// The exporter supervisor across repeated crashes: each restart waits twice as long as the one
// before (from the minimum up to the maximum), and an exporter that stayed up for the reset period
// starts the back-off again from the minimum. The exporter here is a stand-in script that records
// its starts and exits on a plan, so the crashes happen exactly when the test says. The exporter
// is a thread of the agent: the stand-in ends its thread (process.exit in a worker ends the
// worker only), and this process - the agent's stand-in - lives on.
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { type StartExporterOptions, startExporter } from "../src/exporter-host/exporter-supervisor.js";
import { captureLog, waitFor } from "./support/exporter-harness.js";
import { tempDir } from "./support/postgres.js";

// Lives plan[n] ms on its n-th start (0-based, counted in the starts file), then exits with 3.
const CRASHER = `
const { workerData } = await import("node:worker_threads");
const fs = await import("node:fs");
const file = workerData.starts;
const n = fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\\n").filter(Boolean).length : 0;
fs.appendFileSync(file, Date.now() + "\\n");
const plan = workerData.plan;
setTimeout(() => process.exit(3), plan[Math.min(n, plan.length - 1)]);
`;

const RESET_MS = 5000;

/** The supervisor running a stand-in entry with `code`, restarting after 50 ms. */
function standIn(code: string, opts: Partial<StartExporterOptions>) {
  const dir = tempDir("cct-standin-");
  const entry = path.join(dir, "stand-in.mjs");
  writeFileSync(entry, code);
  const { log, lines } = captureLog("warn");
  const handle = startExporter({
    pgdata: path.join(dir, "pgdata"),
    connstr: "postgresql://unused@127.0.0.1:1/postgres",
    log,
    stateFile: null,
    entry,
    restart: { minMs: 50, maxMs: 50 },
    ...opts,
  });
  const stop = async () => {
    await handle.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return { handle, lines, stop };
}

async function crashLoop(plan: number[], restarts: number) {
  const startsDir = tempDir("cct-crash-");
  const starts = path.join(startsDir, "starts");
  const { handle, lines, stop } = standIn(CRASHER, {
    workerData: { starts, plan },
    // Uptime counts from the thread's start, its loading included: the reset period is far beyond a
    // start on a busy machine, so only the planned long run resets the back-off.
    restart: { minMs: 50, maxMs: 400, resetAfterMs: RESET_MS },
  });
  try {
    await waitFor(`${restarts} restarts`, () => handle.restarts >= restarts, 120_000, 20);
  } finally {
    await stop();
  }
  const startedAt = readFileSync(starts, "utf8").split("\n").filter(Boolean).map(Number);
  const delays = lines
    .filter((l) => l.msg.startsWith("metrics exporter exited"))
    .map((l) => {
      assert.equal(l.code, 3);
      return Number(l.restartInMs);
    });
  rmSync(startsDir, { recursive: true, force: true });
  return { startedAt, delays: delays.slice(0, restarts) };
}

test("repeated crashes: the restart delay doubles from the minimum to the maximum", async () => {
  const { startedAt, delays } = await crashLoop([0], 6);
  assert.deepEqual(delays, [50, 100, 200, 400, 400, 400]);
  // Each start came no sooner than its delay after the previous one (timers never fire early).
  for (let i = 1; i < Math.min(startedAt.length, delays.length + 1); i++) {
    const gap = startedAt[i] - startedAt[i - 1];
    assert.ok(gap >= delays[i - 1], `start ${i} ${gap} ms after start ${i - 1}, delay ${delays[i - 1]} ms`);
  }
});

test("an exporter that stayed up for the reset period restarts from the minimum delay again", async () => {
  // Three quick crashes (50, 100, 200), one run longer than the reset period, then quick again.
  const { delays } = await crashLoop([0, 0, 0, RESET_MS + 100, 0], 6);
  assert.deepEqual(delays, [50, 100, 200, 50, 100, 200]);
});

test("an exporter thread that outgrows its heap limit ends alone and is restarted", async () => {
  // Keeps every array it makes: only the thread's heap limit stops it.
  const { handle, lines, stop } = standIn(
    "const keep = []; setInterval(() => { for (let i = 0; i < 100; i++) keep.push(new Array(10000).fill(i)); }, 1);\n",
    { resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 } },
  );
  try {
    await waitFor("a restart after the heap limit", () => handle.restarts >= 1, 120_000, 20);
  } finally {
    await stop();
  }
  const failed = lines.find((l) => l.msg === "metrics exporter failed");
  assert.equal((failed?.err as { code?: string } | undefined)?.code, "ERR_WORKER_OUT_OF_MEMORY");
  assert.ok(lines.some((l) => l.msg === "metrics exporter exited; restarting"));
  // This process (the agent's stand-in) is alive and its heap is its own.
  assert.ok(process.memoryUsage().heapUsed < 512 * 1024 * 1024);
});

test("a thread whose event loop stops answering is ended by the watchdog and restarted", async () => {
  // Answers nothing: its event loop is blocked from the start.
  const { handle, lines, stop } = standIn("for (;;);\n", { watchdog: { intervalMs: 50, timeoutMs: 300 } });
  // Meanwhile this thread's event loop turns: timers fire while the worker spins.
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 10);
  try {
    await waitFor("the watchdog's restart", () => handle.restarts >= 1, 120_000, 20);
    await assert.rejects(handle.read("autoscaling", 200), /did not answer|not running/);
  } finally {
    clearInterval(ticker);
    await stop();
  }
  assert.ok(ticks > 0);
  assert.ok(lines.some((l) => l.msg === "metrics exporter does not answer; ending it"));
});
