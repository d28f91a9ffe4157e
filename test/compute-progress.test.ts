// The progress report of long tasks, without a database: the state machine publishes a
// producer's figures at a bounded rate to the listeners that asked for progress (not to status
// listeners), ends cleanly, and lets a newer task replace an older one; the log shows a task's
// start, a line every interval while it runs, and its end; pg_basebackup's --progress lines
// parse into bytes.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { pino } from "pino";
import { parseBasebackupProgress } from "../src/startup/sources/primary-basebackup.js";
import { progressView } from "../src/state/progress.js";
import { logProgress } from "../src/state/progress-log.js";
import { ComputeStateMachine, type StateSnapshot } from "../src/state/state-machine.js";

/** The publishing and logging timers are unref'd (they never keep an agent alive); the test is the only thing running. */
function keepAlive(t: { after(fn: () => void): void }): void {
  const timer = setInterval(() => {}, 1000);
  t.after(() => clearInterval(timer));
}

function nextSnapshot(
  state: ComputeStateMachine,
  pred: (s: StateSnapshot) => boolean,
): Promise<StateSnapshot> {
  return new Promise((resolve) => {
    const off = state.subscribe(
      (s) => {
        if (!pred(s)) return;
        off();
        resolve(s);
      },
      { progress: true },
    );
  });
}

describe("reconfiguring is a status of the state machine", () => {
  test("configuration_pending/configuration from running is a live reconfiguration, from empty a start", () => {
    const state = new ComputeStateMachine();
    state.transition("configuration_pending");
    assert.equal(state.snapshot.reconfiguring, false, "a spec for an empty compute");
    state.transition("init");
    state.transition("running");
    assert.equal(state.snapshot.reconfiguring, false);
    state.transition("configuration_pending");
    assert.equal(state.snapshot.reconfiguring, true);
    state.transition("configuration");
    assert.equal(state.snapshot.reconfiguring, true);
    state.beginProgress("x").end();
    assert.equal(state.snapshot.reconfiguring, true, "progress keeps it");
    state.transition("running");
    assert.equal(state.snapshot.reconfiguring, false);
    state.transition("configuration_pending");
    state.transition("termination_pending_fast");
    assert.equal(state.snapshot.reconfiguring, false, "a terminate ends it");
  });
});

describe("progress in the state machine", () => {
  test("published at once, then at most every interval, to progress listeners only", async (t) => {
    keepAlive(t);
    const state = new ComputeStateMachine();
    state.transition("init");
    const statusOnly: StateSnapshot[] = [];
    const withProgress: StateSnapshot[] = [];
    state.subscribe((s) => statusOnly.push(s));
    state.subscribe((s) => withProgress.push(s), { progress: true });

    const p = state.beginProgress("basebackup", 200);
    assert.equal(state.snapshot.progress?.phase, "basebackup", "visible at once");
    assert.equal(state.snapshot.progress?.bytesDone, 0);
    const trailing = nextSnapshot(state, (s) => s.progress?.bytesDone === 1000 * 64);
    for (let i = 1; i <= 1000; i++) p.addBytes(64); // a burst of chunks
    p.update({ bytesTotal: 128_000 });
    assert.equal(state.snapshot.progress?.bytesDone, 0, "not republished within the interval");
    const s = await trailing;
    assert.equal(s.progress?.bytesTotal, 128_000);
    assert.ok(withProgress.length <= 3, `${withProgress.length} publications for 1001 updates`);
    assert.deepEqual(statusOnly, [], "status listeners are not woken by progress");

    p.addFile();
    p.end();
    assert.equal(state.snapshot.progress, null, "gone once ended");
    const beforeEnd = withProgress.at(-2);
    assert.equal(beforeEnd?.progress?.filesDone, 1, "the last figures are published before the end");
    p.addBytes(1);
    p.end();
    assert.equal(state.snapshot.progress, null, "a reporter is inert after end()");
  });

  test("a status change keeps the progress; a newer task replaces an older one", () => {
    const state = new ComputeStateMachine();
    state.transition("init");
    const first = state.beginProgress("restore", 0);
    first.update({ bytesDone: 5, bytesTotal: 10 });
    state.transition("failed", { error: "x" });
    assert.equal(state.snapshot.progress?.bytesDone, 5);
    const second = state.beginProgress("prewarm", 0);
    first.update({ bytesDone: 9 });
    first.end();
    assert.equal(state.snapshot.progress?.phase, "prewarm", "the old task's end does not clear the new one");
    assert.equal(state.snapshot.progress?.bytesDone, 0);
    second.end();
    assert.equal(state.snapshot.progress, null);
  });

  test("the REST view is snake_case with ISO times", () => {
    const state = new ComputeStateMachine();
    const p = state.beginProgress("basebackup", 0);
    p.update({ bytesDone: 2048, bytesTotal: 4096 });
    const view = progressView(state.snapshot.progress as NonNullable<StateSnapshot["progress"]>);
    assert.equal(view.phase, "basebackup");
    assert.equal(view.bytes_done, 2048);
    assert.equal(view.bytes_total, 4096);
    assert.equal(view.files_done, null);
    assert.match(view.started_at, /^\d{4}-\d\d-\d\dT/);
    p.end();
  });
});

test("the log: a start line, one per interval while it runs (even when stalled), a done line", async (t) => {
  keepAlive(t);
  const entries: Record<string, unknown>[] = [];
  let wake: (() => void) | null = null;
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).trim().split("\n")) entries.push(JSON.parse(line));
      wake?.();
      done();
    },
  });
  const untilEntries = async (pred: () => boolean) => {
    while (!pred()) await new Promise<void>((r) => (wake = r));
  };
  const state = new ComputeStateMachine();
  const stop = logProgress(state, pino({ base: null }, sink), 30);
  const p = state.beginProgress("basebackup", 0);
  p.update({ bytesDone: 1024, bytesTotal: 4096 });
  // Nothing moves any more: the lines keep coming.
  await untilEntries(() => entries.filter((e) => e.msg === "basebackup progress").length >= 3);
  p.update({ bytesDone: 4096 });
  p.end();
  stop();
  const msgs = entries.map((e) => e.msg);
  assert.equal(msgs[0], "basebackup started");
  assert.equal(msgs.at(-1), "basebackup done");
  const done = entries.at(-1)?.progress as Record<string, unknown>;
  assert.equal(done.bytes_done, 4096);
  assert.equal(done.percent, 100);
  assert.equal(typeof done.bytes_per_s, "number");
  const progress = entries.find((e) => e.msg === "basebackup progress")?.progress as Record<string, unknown>;
  assert.equal(progress.percent, 25);
});

test("pg_basebackup --progress lines", () => {
  assert.deepEqual(parseBasebackupProgress("  1234/40000 kB (3%), 0/1 tablespace (...data/base/1/1259)"), {
    bytesDone: 1234 * 1024,
    bytesTotal: 40000 * 1024,
  });
  assert.deepEqual(parseBasebackupProgress("40961/40961 kB (100%), 1/1 tablespace"), {
    bytesDone: 40961 * 1024,
    bytesTotal: 40961 * 1024,
  });
  assert.deepEqual(parseBasebackupProgress("50000/40000 kB (>100%), 2/3 tablespaces"), {
    bytesDone: 50000 * 1024,
    bytesTotal: 50000 * 1024,
  });
  assert.equal(parseBasebackupProgress("pg_basebackup: write-ahead log end point: 0/2000100"), null);
  assert.equal(parseBasebackupProgress("waiting for checkpoint"), null);
});
