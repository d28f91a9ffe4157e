// Status polling reuses its answer while the compute's state is unchanged (the fast path frames
// it once, src/api/grpc/fast-path/reusable-answer.ts), and every change makes a new answer (the
// wire side: test/grpc-fast-path.test.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { StatusView } from "../src/api/compute-api.js";
import { framedAnswer, reusableAnswer } from "../src/api/grpc/fast-path/reusable-answer.js";
import { lastStateWhileUnchanged } from "../src/api/grpc/state-to-proto.js";

const view = (over: Partial<StatusView> = {}): StatusView => ({
  start_time: "2026-01-01T00:00:00.000Z",
  status: "running",
  last_active: null,
  error: null,
  tenant: "t1",
  timeline: "tl1",
  ignored: [{ field: "a", reason: "r" }],
  ...over,
});
const progress = {
  phase: "basebackup",
  bytes_done: 1,
  bytes_total: 10,
  files_done: null,
  files_total: null,
  started_at: "2026-01-01T00:00:00.000Z",
  updated_at: "2026-01-01T00:00:01.000Z",
};

test("the Status state is the same object while its view and timings are equal, a new one on any change", () => {
  const stateOf = lastStateWhileUnchanged();
  const first = stateOf(view(), { config_ms: 5 });
  // Equal inputs in new objects (as api.status() builds them on every call).
  assert.equal(stateOf(view(), { config_ms: 5 }), first);
  const changes: [string, StatusView, Record<string, number>][] = [
    ["status", view({ status: "terminated" }), { config_ms: 5 }],
    ["start_time", view({ start_time: "2026-01-02T00:00:00.000Z" }), { config_ms: 5 }],
    ["last_active", view({ last_active: "2026-01-01T00:00:05+00:00" }), { config_ms: 5 }],
    ["error", view({ error: "boom" }), { config_ms: 5 }],
    ["tenant", view({ tenant: "t2" }), { config_ms: 5 }],
    ["timeline", view({ timeline: "tl2" }), { config_ms: 5 }],
    ["progress appears", view({ progress }), { config_ms: 5 }],
    ["progress moves", view({ progress: { ...progress, bytes_done: 2 } }), { config_ms: 5 }],
    ["ignored", view({ ignored: [{ field: "a", reason: "other" }] }), { config_ms: 5 }],
    ["ignored grows", view({ ignored: [...view().ignored, { field: "b", reason: "r" }] }), { config_ms: 5 }],
    ["timing value", view(), { config_ms: 6 }],
    ["timing added", view(), { config_ms: 6, total_startup_ms: 7 }],
    ["timing removed", view(), { total_startup_ms: 7 }],
    // A field StatusView gains later counts without anyone listing it.
    ["a field added later", { ...view(), future_field: "x" } as StatusView, { total_startup_ms: 7 }],
  ];
  let previous = first;
  for (const [what, v, timings] of changes) {
    const next = stateOf(v, timings);
    assert.notEqual(next, previous, `${what}: a new state`);
    assert.equal(stateOf(structuredClone(v), { ...timings }), next, `${what}: then the same again`);
    previous = next;
  }
});

test("a reusable answer is framed once; any other answer every time", () => {
  let framings = 0;
  const frame = () => {
    framings++;
    return Buffer.from([0, 0, 0, 0, 0]);
  };
  const reused = reusableAnswer({ state: 1 });
  assert.equal(reusableAnswer(reused), reused);
  const a = framedAnswer(reused, frame);
  assert.equal(framedAnswer(reused, frame), a);
  assert.equal(framings, 1);
  const plain = { state: 2 };
  framedAnswer(plain, frame);
  framedAnswer(plain, frame);
  assert.equal(framings, 3);
});
