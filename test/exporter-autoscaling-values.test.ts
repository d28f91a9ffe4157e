// The vanilla autoscaling set measures something real: reading a table larger than shared_buffers
// (16MB here) moves lfc_misses/lfc_hits, and touching N distinct pages of a real table
// raises the 5-minute working-set window by N (within 15%) over its baseline
// and lfc_writes (buffer allocations) by about N.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { pino } from "pino";
import { type ExporterHandle, startExporter } from "../src/exporter-host/exporter-supervisor.js";
import { curlSocket, waitFor } from "./support/exporter-harness.js";
import { pgOsUser, startTestPostgres, type TestPostgres, tempDir } from "./support/postgres.js";
import { strictParse } from "./support/prometheus-strict.js";

const SAMPLE_MS = 250;
let pg: TestPostgres;
let exporter: ExporterHandle;
let stateDir: string;
let stateFile: string;

interface Scrape {
  values: Map<string, number>;
  window: (s: number) => number;
  /** Bounds (ms since the epoch) of when the latest buffer sample completed; null before the first. */
  sampleDone: { lower: number; upper: number } | null;
  /** Lower bound of when the autoscaling values (the windows) in this answer were computed. */
  windowsTakenAfter: number;
}

async function scrape(): Promise<Scrape> {
  const t0 = Date.now();
  const r = await curlSocket(exporter.socketPath, "/metrics");
  const t1 = Date.now();
  assert.equal(r.status, 200);
  const fams = strictParse(r.body);
  const values = new Map<string, number>();
  for (const f of fams.values()) if (f.samples.length === 1) values.set(f.name, f.samples[0].value);
  const windows = fams.get("lfc_approximate_working_set_size_windows")?.samples ?? [];
  // The ages are taken by the exporter between t0 and t1.
  const sampleAge = (values.get("compute_exporter_wss_sample_age_seconds") ?? -1) * 1000;
  const dataAge = fams
    .get("compute_exporter_data_age_seconds")
    ?.samples.find((x) => x.labels.collection === "autoscaling")?.value;
  return {
    values,
    window: (s) => windows.find((w) => w.labels.duration_seconds === String(s))?.value ?? Number.NaN,
    sampleDone: sampleAge >= 0 ? { lower: t0 - sampleAge, upper: t1 - sampleAge } : null,
    windowsTakenAfter: dataAge === undefined || dataAge < 0 ? 0 : t0 - dataAge * 1000,
  };
}

/**
 * Waits for a buffer sample whose query started after now (so it has seen everything done
 * before), then for a scrape whose windows were computed after that sample, and returns it.
 * Samples run one after another, so the one after a sample that completed after now started after
 * now. Bounded generously: the sampler keeps itself under 0.5% of a core, so on a loaded machine
 * a sample that cost 25 ms of CPU pushes the next one 5 s out.
 */
async function scrapeAfterNow(): Promise<Scrape> {
  const since = Date.now();
  const sampleAfter = (t: number) =>
    waitFor(
      `a buffer sample completed after ${t}`,
      async () => {
        const s = await scrape();
        return s.sampleDone && s.sampleDone.lower > t ? s.sampleDone : null;
      },
      60_000,
    );
  const first = await sampleAfter(since);
  const second = await sampleAfter(first.upper);
  return waitFor(
    "windows computed after the sample",
    async () => {
      const s = await scrape();
      return s.windowsTakenAfter > second.upper ? s : null;
    },
    60_000,
  );
}

before(async () => {
  // No autovacuum: a background pass over the tables would add pages to the windows.
  pg = await startTestPostgres({ settings: { shared_buffers: "16MB", autovacuum: "off" } });
  // Made before the exporter starts, so none of this is in the estimator's history; the last scan
  // (normal buffer strategy, larger than shared_buffers) pushes ws out of shared buffers.
  await pg.query(`CREATE TABLE big AS SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 60000) g;
    CREATE TABLE ws AS SELECT g AS id, repeat('y', 300) AS pad FROM generate_series(1, 20000) g;
    CREATE TABLE filler AS SELECT g AS id, repeat('z', 500) AS pad FROM generate_series(1, 40000) g;
    ANALYZE big; ANALYZE ws; ANALYZE filler;
    SET enable_seqscan = off; SELECT count(*) FROM filler WHERE ctid < '(100000,0)'::tid`);
  stateDir = tempDir("cct-exps-");
  stateFile = path.join(stateDir, "wss.hll");
  await launch();
});

async function launch(): Promise<void> {
  exporter = startExporter({
    pgdata: pg.pgdata,
    connstr: pg.connstr(),
    log: pino({ level: "silent" }),
    socketOwner: pgOsUser,
    stateFile,
    timings: { wssSampleMs: SAMPLE_MS, ttlMs: 100 },
  });
  await waitFor("the exporter's first buffer sample", async () => (await scrape()).sampleDone, 60_000, 100);
}

after(async () => {
  await exporter?.stop();
  await pg?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

test("reading a table larger than shared_buffers grows lfc_misses and lfc_hits", async () => {
  const [{ pages }] = await pg.query<{ pages: number }>(
    "SELECT (pg_relation_size('big') / 8192)::int AS pages",
  );
  assert.ok(pages * 8192 > 16 * 1024 * 1024, `table of ${pages} pages exceeds shared_buffers`);
  const before = (await scrape()).values;
  // The reading session ends before we look: a backend flushes its statistics at exit.
  await pg.query("SELECT count(*) FROM big");
  await pg.query("SELECT count(*) FROM big");
  const grown = await waitFor(
    "statistics to show the reads",
    async () => {
      const v = (await scrape()).values;
      return (v.get("lfc_misses") ?? 0) - (before.get("lfc_misses") ?? 0) >= pages ? v : null;
    },
    60_000,
    200,
  );
  assert.ok((grown.get("lfc_hits") ?? 0) > (before.get("lfc_hits") ?? 0), "hits grew");
  const used = grown.get("lfc_used") ?? 0;
  assert.ok(used >= 1 && used <= 16, `lfc_used ${used} MB chunks within shared_buffers`);
});

/** One session reading the first `pages` pages of ws through a TID range scan (0: the same steps, no page). */
async function readWs(pages: number): Promise<void> {
  const c = await pg.client();
  try {
    // A TID range scan reads every page through the normal buffer strategy (no ring buffer).
    await c.query("SET enable_seqscan = off");
    const plan = await c.query(`EXPLAIN SELECT count(*) FROM ws WHERE ctid < '(${pages},0)'::tid`);
    assert.match(plan.rows.map((r) => r["QUERY PLAN"]).join("\n"), /Tid Range Scan/);
    await c.query(`SELECT count(*) FROM ws WHERE ctid < '(${pages},0)'::tid`);
  } finally {
    await c.end();
  }
}

test("touching N distinct pages raises the 5-minute working-set window by N (within 15%)", async (t) => {
  const [{ n }] = await pg.query<{ n: number }>("SELECT (pg_relation_size('ws') / 8192)::int AS n");
  assert.ok(n > 500 && n < 1500, `ws has ${n} pages, well below 2048 buffers`);
  // Noise control, not a wider bound. (1) A fresh estimator: the HyperLogLog's error on a
  // difference grows with what the window already holds (with the few thousand pages the scans
  // above leave there, +-15% of ~830 fails about one run in seven), so this window starts from
  // what the background touches. (2) A control pass: the same session steps on an empty TID
  // range touch every page the real pass touches except ws's own (the session's catalog reads,
  // EXPLAIN), so those pages are in the baseline and the difference is ws's pages.
  await exporter.stop();
  rmSync(stateFile, { force: true });
  await launch();
  await readWs(0);
  const base = await scrapeAfterNow();
  const baseline = base.window(300);
  assert.ok(baseline < 0.15 * n, `a small baseline (${baseline} pages) to measure ${n} pages against`);
  await readWs(n);
  const s = await scrapeAfterNow();
  const grew = s.window(300) - baseline;
  t.diagnostic(`${n} pages touched: 5-minute window ${baseline} -> ${s.window(300)} (+${grew})`);
  assert.ok(
    Math.abs(grew - n) <= 0.15 * n,
    `5-minute window grew by ${grew} for ${n} pages (baseline ${baseline})`,
  );
  assert.ok(s.window(60) >= grew * 0.85, `1-minute window ${s.window(60)} holds them too`);
  // Loading pages outside a ring buffer allocates buffers: lfc_writes follows (via the bgwriter,
  // which may be hibernating: it wakes on the allocations, then reports within its cycle).
  await waitFor(
    "buffers_alloc to count the loads",
    async () =>
      ((await scrape()).values.get("lfc_writes") ?? 0) - (base.values.get("lfc_writes") ?? 0) >= n * 0.9,
    60_000,
    200,
  );

  // Touching the same pages again adds no distinct pages.
  await readWs(n);
  const again = (await scrapeAfterNow()).window(300) - baseline;
  assert.ok(Math.abs(again - grew) <= 0.05 * n, `re-reading the same pages: ${again} vs ${grew}`);
});

test("a restarted exporter keeps the working-set history (state file)", async () => {
  const before = (await scrape()).window(300);
  assert.ok(before > 500, `history to keep: ${before}`);
  await exporter.stop(); // SIGTERM: the estimator is saved on the way out
  await launch();
  const after = (await scrape()).window(300);
  assert.ok(after >= before * 0.95, `5-minute window after the restart ${after}, before ${before}`);
});
