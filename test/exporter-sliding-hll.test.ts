// The sliding HyperLogLog behind the working-set windows: distinct counts within a few percent
// (standard error 1.04/sqrt(1024) = 3.25%), repeated items counted once, and old items leaving
// the short windows while staying in the long ones. Also the state file round trip.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { loadHll, saveHll } from "../src/exporter/hll-state-file.js";
import { SlidingHll } from "../src/exporter/sliding-hll.js";
import { defaultStateFile } from "../src/exporter-host/exporter-supervisor.js";
import { pgOsUser } from "./support/postgres.js";

/** A well-mixed 32-bit hash of an integer, like the page-tag hash Postgres computes for us. */
function hash32(n: number): number {
  return createHash("sha1").update(String(n)).digest().readInt32BE(0);
}

test("counts distinct items within 10% across magnitudes and ignores repeats", () => {
  for (const n of [50, 1000, 20_000, 200_000]) {
    const hll = new SlidingHll();
    for (let i = 0; i < n; i++) hll.add(hash32(i), 1000);
    for (let i = 0; i < n; i += 3) hll.add(hash32(i), 1000); // repeats change nothing
    const e = hll.estimate(1);
    assert.ok(Math.abs(e - n) / n < 0.1, `n=${n}: estimate ${e}`);
  }
});

test("windows: items age out of short windows and stay in long ones; windows agree with single estimates", () => {
  const hll = new SlidingHll();
  const minute = 60_000;
  const t0 = 10 * 60 * minute;
  for (let i = 0; i < 5000; i++) hll.add(hash32(i), t0); // old batch
  for (let i = 5000; i < 6000; i++) hll.add(hash32(i), t0 + 30 * minute); // recent batch
  const now = t0 + 31 * minute;
  const [w5, w60] = hll.estimateWindows([now - 5 * minute, now - 60 * minute]);
  assert.ok(Math.abs(w5 - 1000) / 1000 < 0.1, `5-minute window ${w5}`);
  assert.ok(Math.abs(w60 - 6000) / 6000 < 0.1, `60-minute window ${w60}`);
  assert.equal(hll.estimate(now - 5 * minute), w5);
  assert.equal(hll.estimate(now - 60 * minute), w60);
  // Touching an old item again brings it into the short window.
  for (let i = 0; i < 500; i++) hll.add(hash32(i), now);
  const w5b = hll.estimate(now - 5 * minute);
  assert.ok(Math.abs(w5b - 1500) / 1500 < 0.1, `after re-touching: ${w5b}`);
  assert.equal(new SlidingHll().estimate(0), 0, "empty estimator says 0");
});

test("state file round trip restores the estimate; a foreign or future file is ignored or cleaned", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cct-hll-"));
  try {
    const file = path.join(dir, "state.hll");
    const a = new SlidingHll();
    for (let i = 0; i < 3000; i++) a.add(hash32(i), 5000);
    saveHll(a, file);
    const b = new SlidingHll();
    assert.equal(loadHll(b, file, 10_000), true);
    assert.equal(b.estimate(1), a.estimate(1));
    const c = new SlidingHll();
    assert.equal(loadHll(c, file, 1000), true, "loads, but drops timestamps from the future");
    assert.equal(c.estimate(1), 0);
    writeFileSync(file, "not a state file");
    assert.equal(loadHll(new SlidingHll(), file), false);
    assert.equal(loadHll(new SlidingHll(), path.join(dir, "missing")), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the state file cannot be redirected by a planted symlink, and lives in the data directory", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cct-hll-link-"));
  try {
    const victim = path.join(dir, "postgres-owned-file");
    writeFileSync(victim, "precious");
    const file = path.join(dir, "wss.hll");
    // Another user plants links at the temp name and at the final name.
    symlinkSync(victim, `${file}.tmp${process.pid}`);
    symlinkSync(victim, file);
    const hll = new SlidingHll();
    for (let i = 0; i < 100; i++) hll.add(hash32(i), Date.now());
    saveHll(hll, file);
    assert.equal(readFileSync(victim, "utf8"), "precious", "the link target is untouched");
    assert.ok(lstatSync(file).isFile(), "the link was replaced by the file itself");
    assert.equal(lstatSync(file).mode & 0o777, 0o600);
    const restored = new SlidingHll();
    assert.ok(loadHll(restored, file));
    // A link at the final name is not read through either.
    rmSync(file);
    symlinkSync(victim, file);
    assert.equal(loadHll(new SlidingHll(), file), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(defaultStateFile("/var/lib/pg/data"), "/var/lib/pg/data/compute_ctl_exporter.hll");
});

test("the state file belongs to the owner of the data directory (pgBackRest, as that user, backs it up)", (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cct-hll-owner-"));
  try {
    const file = path.join(dir, "state.hll");
    const owner = pgOsUser ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    if (!pgOsUser) t.diagnostic("not running as root: the owner is our own user");
    saveHll(new SlidingHll(), file, owner);
    const st = lstatSync(file);
    assert.equal(st.uid, owner.uid);
    assert.equal(st.gid, owner.gid);
    assert.equal(st.mode & 0o777, 0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
