// Prewarm/offload on a Neon Postgres, against a PROTOCOL-LEVEL FAKE of the neon extension: a
// `neon` schema with get_local_cache_state(), prewarm_local_cache(bytea, int) and
// get_prewarm_info() of the real signatures (neon--1.5--1.6.sql), backed by tables, standing in
// for the C extension that cannot be built here (as the exporter's tests do). The agent must
// detect it, ship the function's bytes unchanged (zstd) and hand them back the same way.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { zstdDecompress } from "../src/zstd/zstd-codec.js";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { type RunningStorage, startStorage } from "./support/endpoint-storage.js";

const TENANT = "b0554b632bd4d547a63b86c3630317e8";
const TIMELINE = "2414a61ffc94e428f14b5758fe308e13";

const FAKE_NEON_SQL = `
CREATE SCHEMA neon;
CREATE TABLE neon.fake_lfc (state bytea);
CREATE TABLE neon.fake_info (total_pages int, prewarmed_pages int, skipped_pages int, active_workers int);
INSERT INTO neon.fake_info VALUES (0, 0, 0, 0);
CREATE TABLE neon.fake_loaded (state bytea, n_workers int);
CREATE TABLE neon.fake_delay (seconds float8);
INSERT INTO neon.fake_delay VALUES (0);
CREATE FUNCTION neon.get_local_cache_state(max_chunks integer DEFAULT NULL) RETURNS bytea
  LANGUAGE sql AS 'SELECT state FROM neon.fake_lfc LIMIT 1';
-- Like the C function: checks FileCacheState's magic (0xfcfcfcfc after the varlena header) and
-- takes n_pages from the header; "loads" them, skipping one page in eight.
CREATE FUNCTION neon.prewarm_local_cache(state bytea, n_workers integer DEFAULT 1) RETURNS void
  LANGUAGE plpgsql STRICT AS $$
DECLARE pages int;
BEGIN
  IF substring(state FROM 5 FOR 4) <> '\\xfcfcfcfc'::bytea THEN
    RAISE EXCEPTION 'LFC: Invalid file cache state magic: %', encode(substring(state FROM 5 FOR 4), 'hex');
  END IF;
  pages := get_byte(state, 12) + get_byte(state, 13) * 256;
  PERFORM pg_sleep((SELECT seconds FROM neon.fake_delay));
  INSERT INTO neon.fake_loaded VALUES (state, n_workers);
  UPDATE neon.fake_info SET total_pages = pages, prewarmed_pages = pages - pages / 8, skipped_pages = pages / 8;
END $$;
CREATE FUNCTION neon.get_prewarm_info(OUT total_pages integer, OUT prewarmed_pages integer,
                                      OUT skipped_pages integer, OUT active_workers integer)
  RETURNS record LANGUAGE sql AS 'SELECT * FROM neon.fake_info';
`;

/** A FileCacheState: varlena header, magic, n_chunks = 2, n_pages = 256, chunk_size_log = 7, tags. */
function fileCacheState(): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(64 << 2, 0);
  b.writeUInt32LE(0xfcfcfcfc, 4);
  b.writeUInt32LE(2, 8);
  b.writeUInt32LE(256, 12);
  b.writeUInt16LE(7, 16);
  for (let i = 18; i < 64; i++) b[i] = i * 7;
  return b;
}

async function settled(agent: RunningAgent, op: "prewarm" | "offload"): Promise<Record<string, unknown>> {
  for (const end = Date.now() + 30_000; Date.now() < end; await sleep(25)) {
    const s = (await (await agent.get(`/lfc/${op}`)).json()) as Record<string, unknown>;
    if (s.status !== "prewarming" && s.status !== "offloading" && !String(s.status).startsWith("not_"))
      return s;
  }
  throw new Error(`${op} did not finish`);
}

describe("prewarm/offload against the fake neon schema (protocol-level fake of the neon extension)", () => {
  let storage: RunningStorage;
  let agent: RunningAgent;

  before(async () => {
    storage = await startStorage({ token: "neon-fake-storage-token" });
    agent = await startAgent({
      name: "lfc-neon",
      spec: minimalSpec({
        tenant_id: TENANT,
        timeline_id: TIMELINE,
        endpoint_id: "ep-neon",
        endpoint_storage_addr: storage.addr,
        endpoint_storage_token: "neon-fake-storage-token",
      }),
    });
    await agent.waitForStatus("running", 60_000);
    await agent.query(FAKE_NEON_SQL);
  });
  after(async () => {
    await agent?.stop();
    await storage?.stop();
  });

  test("an empty LFC (NULL state) is not offloaded", async () => {
    assert.equal((await agent.post("/lfc/offload")).status, 202);
    assert.deepEqual(await settled(agent, "offload"), { status: "skipped" });
  });

  test("offload ships get_local_cache_state()'s bytes, prewarm hands them to prewarm_local_cache()", async () => {
    const state = fileCacheState();
    await agent.query("INSERT INTO neon.fake_lfc VALUES ($1)", [state]);
    assert.equal((await agent.post("/lfc/offload")).status, 202);
    assert.equal((await settled(agent, "offload")).status, "completed");
    const stored = readFileSync(path.join(storage.dataDir, TENANT, TIMELINE, "ep-neon", "lfc_state"));
    assert.deepEqual(await zstdDecompress(stored, 1 << 20), state, "the stored object is zstd(state)");

    assert.equal((await agent.post("/lfc/prewarm")).status, 202);
    const done = await settled(agent, "prewarm");
    assert.equal(done.status, "completed", JSON.stringify(done));
    assert.deepEqual(
      [done.total, done.prewarmed, done.skipped],
      [256, 224, 32],
      "numbers from get_prewarm_info()",
    );
    const [loaded] = await agent.query<{ state: Buffer }>("SELECT state FROM neon.fake_loaded");
    assert.deepEqual(loaded.state, state);
  });

  test("cancelling cancels the running prewarm_local_cache() query", async () => {
    await agent.query("UPDATE neon.fake_delay SET seconds = 60");
    assert.equal((await agent.post("/lfc/prewarm")).status, 202);
    const active = async () =>
      (
        await agent.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%prewarm_local_cache($1)%' AND state = 'active' AND pid <> pg_backend_pid()",
        )
      )[0].n;
    for (const end = Date.now() + 60_000; (await active()) === 0; await sleep(25)) {
      if (Date.now() > end) throw new Error("prewarm_local_cache() never ran");
    }
    assert.equal((await fetch(`${agent.url}/lfc/prewarm`, { method: "DELETE" })).status, 202);
    assert.deepEqual(await settled(agent, "prewarm"), { status: "cancelled" });
    for (const end = Date.now() + 60_000; (await active()) > 0; await sleep(25)) {
      if (Date.now() > end) throw new Error("the query was not cancelled");
    }
    await agent.query("UPDATE neon.fake_delay SET seconds = 0");
  });

  test("a state without the magic fails the prewarm with Postgres's reason; the compute keeps running", async () => {
    await agent.query("UPDATE neon.fake_lfc SET state = '\\x00000000deadbeef'::bytea");
    assert.equal((await agent.post("/lfc/offload")).status, 202);
    assert.equal((await settled(agent, "offload")).status, "completed");
    assert.equal((await agent.post("/lfc/prewarm")).status, 202);
    const failed = await settled(agent, "prewarm");
    assert.equal(failed.status, "failed");
    assert.match(failed.error as string, /Invalid file cache state magic/);
    assert.equal((await agent.status()).status, "running");
  });
});
