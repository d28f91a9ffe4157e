// The TIMELINE_STATUS quorum check against protocol-level fake safekeepers: it answers at a
// quorum, never waits on a silent safekeeper beyond its budget, and treats auth failures,
// unknown timelines and disagreement as "not synced" rather than errors.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { checkSafekeepersSynced } from "../src/startup/sources/neon-safekeepers-check.js";
import type { NeonStorage } from "../src/startup/sources/neon-storage.js";
import { type FakeSafekeeperOptions, startFakeSafekeeper } from "./support/fake-safekeeper.js";
import { freePort } from "./support/ports.js";

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

async function storageWith(
  statuses: FakeSafekeeperOptions["status"][],
  token = "tok",
  extra: string[] = [],
): Promise<NeonStorage> {
  const addrs: string[] = [];
  for (const status of statuses) {
    const sk = await startFakeSafekeeper({ status, password: "tok" });
    closers.push(sk.close);
    addrs.push(sk.address);
  }
  return {
    tenantId: "t",
    timelineId: "tl",
    shardUrls: ["postgres://no_user@127.0.0.1:1"],
    safekeepers: [...addrs, ...extra],
    safekeepersGeneration: null,
    authToken: token,
    computeMode: "primary",
  };
}

const at = (lsn: string) => ({ flush_lsn: lsn, commit_lsn: lsn });

test("a quorum of agreeing safekeepers is synced, even with one silent and one down", async () => {
  const down = `127.0.0.1:${await freePort()}`;
  const storage = await storageWith([at("0/5000000"), at("0/5000000"), at("0/5000000"), "silent"], "tok", [
    down,
  ]);
  const t0 = Date.now();
  const budgetMs = 120_000;
  const r = await checkSafekeepersSynced(storage, { timeoutMs: budgetMs });
  assert.equal(r.lsn, "0/5000000");
  assert.ok(Date.now() - t0 < budgetMs / 4, "returned at quorum, without waiting for the silent one");
});

test("silent safekeepers cost at most the per-safekeeper budget", async () => {
  const storage = await storageWith(["silent", "silent", at("0/1")]);
  const t0 = Date.now();
  const r = await checkSafekeepersSynced(storage, { timeoutMs: 100 });
  assert.equal(r.lsn, null);
  assert.match(r.reason, /only 1 of 3 safekeepers answered/);
  assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms for a 100 ms budget`);
});

test("unknown timeline, disagreement and a wrong token are not synced", async () => {
  assert.equal((await checkSafekeepersSynced(await storageWith([at("0/1"), null, null]))).lsn, null);
  assert.equal((await checkSafekeepersSynced(await storageWith([at("0/1"), at("0/2")]))).lsn, null);
  const wrongToken = await checkSafekeepersSynced(await storageWith([at("0/1")], "not-the-token"), {
    timeoutMs: 1000,
  });
  assert.equal(wrongToken.lsn, null);
  assert.match(wrongToken.reason, /password authentication failed/);
});
