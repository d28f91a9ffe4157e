// prepare_pgdata: every start gets an empty data directory (mode 0700, owned by the Postgres OS
// user) at once; the old one is renamed aside and deleted in the background, and what an earlier
// agent left half-deleted is swept by the next start.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { recreateDataDir } from "../src/startup/steps/prepare-pgdata.js";
import { pgOsUser, tempDir } from "./support/postgres.js";

const root = tempDir("cct-prep-");
after(() => rmSync(root, { recursive: true, force: true }));
const owner = pgOsUser ? { uid: pgOsUser.uid, gid: pgOsUser.gid } : null;

async function until(cond: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

function checkFresh(pgdata: string): void {
  const st = statSync(pgdata);
  assert.ok(st.isDirectory());
  assert.equal(st.mode & 0o777, 0o700);
  if (owner) assert.equal(st.uid, owner.uid);
  assert.deepEqual(readdirSync(pgdata), []);
}

test("a missing data directory (and its parents) is created empty", async () => {
  const pgdata = path.join(root, "a", "deep", "pgdata");
  await recreateDataDir(pgdata, owner);
  checkFresh(pgdata);
  assert.equal(statSync(path.dirname(pgdata)).mode & 0o777, 0o755);
});

test("an old data directory is replaced at once and deleted in the background, leftovers swept", async () => {
  const parent = path.join(root, "b");
  const pgdata = path.join(parent, "pgdata");
  mkdirSync(path.join(pgdata, "base", "1"), { recursive: true });
  for (let i = 0; i < 200; i++) writeFileSync(path.join(pgdata, "base", "1", String(i)), "x".repeat(8192));
  // What an agent killed before its rm finished leaves behind, and an unrelated neighbour.
  const leftover = path.join(parent, ".pgdata.old-deadbeef");
  mkdirSync(path.join(leftover, "global"), { recursive: true });
  writeFileSync(path.join(leftover, "global", "pg_control"), "old");
  const neighbour = path.join(parent, "pgdata-backup");
  mkdirSync(neighbour);

  await recreateDataDir(pgdata, owner);
  checkFresh(pgdata);
  // Only the new data directory (with the marker saying the agent made it) and the neighbour
  // remain once the background rm is done.
  await until(() => readdirSync(parent).every((n) => !n.startsWith(".pgdata.old-")));
  assert.deepEqual(readdirSync(parent).sort(), [".pgdata.compute_ctl-owned", "pgdata", "pgdata-backup"]);
  assert.ok(existsSync(neighbour));
});
