// A fake `neon` schema STANDS IN FOR NEON'S C EXTENSION (which cannot be built here): the view
// `neon.neon_lfc_stats` over a SETOF RECORD function and
// `neon.approximate_working_set_size_seconds(integer)` with the real signatures, and no
// pg_extension row. The exporter detects the objects, switches its autoscaling source to them
// (Neon's HELP texts, the function's windows, -1 when it returns NULL) and back when they go.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, test } from "node:test";
import { pino } from "pino";
import { type ExporterHandle, startExporter } from "../src/exporter-host/exporter-supervisor.js";
import { curlSocket, waitFor } from "./support/exporter-harness.js";
import { pgOsUser, startTestPostgres, type TestPostgres, tempDir } from "./support/postgres.js";
import { type StrictFamily, strictParse } from "./support/prometheus-strict.js";

const FAKE_NEON_SQL = `
CREATE SCHEMA neon;
CREATE TABLE neon.fake_lfc (lfc_key text PRIMARY KEY, lfc_value bigint);
INSERT INTO neon.fake_lfc VALUES
  ('file_cache_chunk_size_pages', 128), ('file_cache_misses', 1234), ('file_cache_hits', 56789),
  ('file_cache_used', 42), ('file_cache_writes', 777), ('file_cache_size', 64),
  ('file_cache_used_pages', 5000), ('file_cache_evicted_pages', 0), ('file_cache_limit', 64),
  ('file_cache_chunks_pinned', 0);
CREATE TABLE neon.fake_wss (enabled bool);
INSERT INTO neon.fake_wss VALUES (true);
-- Same shape as neon--1.1.sql: a SETOF RECORD function and a view that names the columns.
CREATE FUNCTION neon.neon_get_lfc_stats() RETURNS SETOF RECORD
  LANGUAGE sql AS 'SELECT lfc_key, lfc_value FROM neon.fake_lfc';
CREATE VIEW neon.neon_lfc_stats AS
  SELECT P.lfc_key, P.lfc_value FROM neon.neon_get_lfc_stats() AS P (lfc_key text, lfc_value bigint);
-- neon--1.3--1.4.sql: approximate_working_set_size_seconds(duration integer default null) RETURNS integer.
CREATE FUNCTION neon.approximate_working_set_size_seconds(duration integer DEFAULT NULL) RETURNS integer
  LANGUAGE sql AS 'SELECT CASE WHEN (SELECT enabled FROM neon.fake_wss) THEN 1000 + duration / 60 END';
`;

const NEON_HELP: Record<string, string> = {
  lfc_cache_size_limit: "LFC cache size limit in bytes",
  lfc_hits: "LFC cache hits",
  lfc_misses: "LFC cache misses",
  lfc_used: "LFC chunks used (chunk = 1MB)",
  lfc_writes: "LFC cache writes",
  lfc_approximate_working_set_size_windows: "Approximate working set size in pages of 8192 bytes",
};

let pg: TestPostgres;
let exporter: ExporterHandle;
let dir: string;

async function families(): Promise<Map<string, StrictFamily>> {
  const r = await curlSocket(exporter.socketPath, "/metrics");
  return strictParse(r.body);
}

async function source(): Promise<string | undefined> {
  return (await families()).get("compute_exporter_source")?.samples[0]?.labels.source;
}

before(async () => {
  pg = await startTestPostgres({ settings: { "neon.file_cache_size_limit": "64MB" } });
  dir = tempDir("cct-expn-");
  exporter = startExporter({
    pgdata: dir,
    connstr: pg.connstr(),
    log: pino({ level: "silent" }),
    socketOwner: pgOsUser,
    stateFile: null,
    timings: { sourceRecheckMs: 300, ttlMs: 100 },
  });
  await waitFor("the vanilla source", async () => (await source()) === "vanilla", 20_000, 100);
});

after(async () => {
  await exporter?.stop();
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("fake neon schema standing in for the C extension switches the autoscaling source to the LFC objects", async () => {
  const vanilla = await families();
  assert.match(vanilla.get("lfc_hits")?.help ?? "", /vanilla Postgres/);

  await pg.query(FAKE_NEON_SQL);
  const [{ ext }] = await pg.query<{ ext: number }>(
    "SELECT count(*)::int AS ext FROM pg_extension WHERE extname = 'neon'",
  );
  assert.equal(ext, 0, "detection is by objects, there is no extension row");
  await waitFor("the neon source", async () => (await source()) === "neon", 10_000, 100);

  const fams = await families();
  for (const [name, help] of Object.entries(NEON_HELP))
    assert.equal(fams.get(name)?.help, help, `${name} HELP`);
  assert.equal(fams.get("lfc_cache_size_limit")?.samples[0].value, 64 * 1024 * 1024);
  assert.equal(fams.get("lfc_hits")?.samples[0].value, 56789);
  assert.equal(fams.get("lfc_misses")?.samples[0].value, 1234);
  assert.equal(fams.get("lfc_used")?.samples[0].value, 42);
  assert.equal(fams.get("lfc_writes")?.samples[0].value, 777);
  const windows = fams.get("lfc_approximate_working_set_size_windows")?.samples ?? [];
  assert.equal(windows.length, 60);
  for (const w of windows) assert.equal(w.value, 1000 + Number(w.labels.duration_seconds) / 60);

  // Counters move with the extension's numbers, and the six families on /autoscaling_metrics agree.
  await pg.query("UPDATE neon.fake_lfc SET lfc_value = lfc_value + 1 WHERE lfc_key = 'file_cache_hits'");
  await waitFor(
    "the new hit count",
    async () => (await families()).get("lfc_hits")?.samples[0].value === 56790,
    30_000,
  );
  const auto = strictParse((await curlSocket(exporter.socketPath, "/autoscaling_metrics")).body);
  assert.equal(auto.size, 6);
  assert.equal(auto.get("lfc_hits")?.samples[0].value, 56790);
});

test("a disabled LFC (the function returns NULL) reports -1 in every window, as Neon's exporter does", async () => {
  await pg.query("UPDATE neon.fake_wss SET enabled = false");
  const windows = await waitFor(
    "disabled windows",
    async () => {
      const w = (await families()).get("lfc_approximate_working_set_size_windows")?.samples ?? [];
      return w.length === 60 && w.every((s) => s.value === -1) ? w : null;
    },
    30_000,
  );
  assert.equal(windows.length, 60);
});

test("dropping the neon objects switches back to the vanilla source", async () => {
  await pg.query("DROP SCHEMA neon CASCADE");
  await waitFor("the vanilla source again", async () => (await source()) === "vanilla", 10_000, 100);
  // The answer cached before the switch may still be served for up to its TTL.
  const fams = await waitFor(
    "vanilla HELP texts",
    async () => {
      const f = await families();
      return /vanilla Postgres/.test(f.get("lfc_hits")?.help ?? "") ? f : null;
    },
    30_000,
    100,
  );
  assert.match(fams.get("lfc_hits")?.help ?? "", /vanilla Postgres/);
  assert.equal(fams.get("compute_exporter_up")?.samples[0].value, 1);
  const failed = fams
    .get("compute_exporter_errors_total")
    ?.samples.find((x) => x.labels.collection === "autoscaling" && x.labels.kind === "query");
  assert.equal(failed?.value, 0, "the switch cost no failed collection");
});
