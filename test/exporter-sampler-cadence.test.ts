// The buffer sampler's cadence on a real Postgres: while samples find nothing new it stretches its
// period up to the quiet period (no pg_buffercache query for that long while nobody scrapes), a
// scrape still gets windows from a sample taken for it, and the first sample that sees pages
// move brings the base period back. Every pg_buffercache query the exporter's session runs is
// recorded at the connection. Load only lengthens the gaps between samples; the one asserted is
// half the quiet period (eight base periods), leaving room for Node's timers counting from the
// event loop's cached time rather than from the moment a sample completed.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { pino } from "pino";
import { BufferSampler } from "../src/exporter/buffer-sampler.js";
import { ExporterConnection } from "../src/exporter/exporter-connection.js";
import { MetricsCollector } from "../src/exporter/metrics-collector.js";
import { waitFor } from "./support/exporter-harness.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

const PERIOD_MS = 100;
const QUIET_MS = 1600;
const SAMPLE_QUERY = "sampling pg_buffercache";

let pgsrv: TestPostgres;
let conn: ExporterConnection;
let sampler: BufferSampler;
let collector: MetricsCollector;
/** When each pg_buffercache query was handed to the session (ms since the epoch). */
const sampleQueries: number[] = [];

before(async () => {
  // No autovacuum: a background pass would move pages while the test wants a quiet pool.
  pgsrv = await startTestPostgres({ settings: { autovacuum: "off" } });
  await pgsrv.query("CREATE EXTENSION pg_buffercache; CREATE TABLE t (id int)");
  const log = pino({ level: "silent" });
  conn = new ExporterConnection({
    connstr: pgsrv.connstr(),
    statementTimeoutMs: 5000,
    lockTimeoutMs: 1000,
    connectTimeoutMs: 5000,
    log,
  });
  const query = conn.query.bind(conn);
  conn.query = ((what, q, timeoutMs) => {
    if (what === SAMPLE_QUERY) sampleQueries.push(Date.now());
    return query(what, q, timeoutMs);
  }) as typeof conn.query;
  sampler = new BufferSampler({
    conn,
    log,
    periodMs: PERIOD_MS,
    quietPeriodMs: QUIET_MS,
    queryTimeoutMs: 10_000,
    // No stretching for expensive samples: the periods under test are the cadence's alone.
    maxCpuShare: 1,
  });
  collector = new MetricsCollector({ conn, sampler, log, ttlMs: 50, queryTimeoutMs: 10_000 });
  // Finds the vanilla source and starts the sampler, as the exporter does.
  collector.start();
});

after(async () => {
  collector?.stop();
  await conn?.close();
  await pgsrv?.stop();
});

/** Waits until a sample completed with the period stretched to the quiet period; returns when. */
async function quietAtMost(): Promise<number> {
  return waitFor(
    "the sampler to stretch its period to the quiet period",
    () => (sampler.currentPeriodMs === QUIET_MS && !sampler.lastChanged ? sampler.lastSampleAt : null),
    60_000,
    20,
  );
}

test("a quiet pool is sampled every quiet period, not every base period", async () => {
  const quietSince = await quietAtMost();
  const queriesBefore = sampleQueries.length;
  const next = await waitFor(
    "the next periodic sample",
    () => (sampleQueries.length > queriesBefore ? sampleQueries[queriesBefore] : null),
    60_000,
    20,
  );
  assert.ok(
    next - quietSince >= QUIET_MS / 2,
    `no pg_buffercache query for ${next - quietSince} ms after a quiet sample (base period ${PERIOD_MS} ms)`,
  );
});

test("a scrape while the sampler is stretched gets windows from a sample taken for it", async () => {
  await quietAtMost();
  // The latest sample is older than the base period and none is running (the next periodic one is
  // a quiet period away).
  await waitFor(
    "the latest sample to age, with none running",
    () =>
      Date.now() - sampler.lastSampleAt > 2 * PERIOD_MS &&
      (sampleQueries.at(-1) ?? 0) <= sampler.lastSampleAt,
    60_000,
    20,
  );
  const scrapedAt = Date.now();
  const queriesBefore = sampleQueries.length;
  const read = await collector.autoscaling.get(30_000);
  assert.ok(read.value, `a value: ${read.error}`);
  assert.equal(read.value.source, "vanilla");
  assert.ok(sampleQueries.length > queriesBefore, "a pg_buffercache query ran for the scrape");
  assert.ok(sampleQueries[queriesBefore] >= scrapedAt, "that query was sent after the scrape began");
  assert.ok(sampler.lastSampleAt >= scrapedAt, "the windows come from a sample taken after the scrape began");
  assert.equal(read.value.values.windows.length, 60);
});

test("pages moving bring the base period back at the next sample", async () => {
  await quietAtMost();
  const moved = Date.now();
  await pgsrv.query("INSERT INTO t SELECT g FROM generate_series(1, 20000) g");
  await waitFor(
    "a sample that saw the new pages",
    () => sampler.lastSampleAt > moved && sampler.lastChanged,
    60_000,
    20,
  );
  assert.equal(sampler.currentPeriodMs, PERIOD_MS);
  assert.ok(sampler.windows()[0] > 0, "the new pages are in the 1-minute window");
});
