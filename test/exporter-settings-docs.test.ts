// The exporter's settings (defaults, refusals naming the setting) and its documentation:
// docs/exporter.md names every family the exporter can expose and every setting it takes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { exporterConfig, TIMING_DEFAULTS } from "../src/exporter/exporter-config.js";
import { AUTOSCALING_FAMILY_NAMES } from "../src/exporter/exporter-families.js";
import { POSTGRES_SET } from "../src/exporter/postgres-set.js";

test("settings: defaults, given values, refusals with the setting's name", () => {
  const c = exporterConfig({ pgdata: "/d", connstr: "postgresql://u@h/db" });
  assert.equal(c.connstr, "postgresql://u@h/db");
  assert.equal(c.ttlMs, 1000);
  assert.ok(c.ttlMs <= 1000, "the TTL default keeps values at most a second old");
  assert.equal(c.scrapeDeadlineMs, 1000);
  assert.equal(c.stateFile, null);
  assert.equal(c.testHooks, false, "test hooks are off unless asked for");
  const d = exporterConfig({ pgdata: "/d", connstr: "postgresql://x@y/z", ttlMs: 250, stateFile: "/s" });
  assert.equal(d.ttlMs, 250);
  assert.equal(d.stateFile, "/s");
  assert.throws(() => exporterConfig({ pgdata: "/d", connstr: "" }), /connstr/);
  assert.throws(() => exporterConfig({ pgdata: "", connstr: "x" }), /pgdata/);
  assert.throws(() => exporterConfig({ pgdata: "/d", connstr: "x", ttlMs: -1 }), /ttlMs/);
  assert.throws(() => exporterConfig({ pgdata: "/d", connstr: "x", wssSampleMs: 1.5 }), /wssSampleMs/);
});

test("docs/exporter.md lists every family, health family and setting", () => {
  const doc = readFileSync(new URL("../docs/exporter.md", import.meta.url), "utf8");
  const source = readFileSync(new URL("../src/exporter/exporter-families.ts", import.meta.url), "utf8");
  const health = [...source.matchAll(/name: "(compute_exporter_\w+)"/g)].map((m) => m[1]);
  assert.ok(health.length >= 8);
  for (const name of [...AUTOSCALING_FAMILY_NAMES, ...POSTGRES_SET.map((m) => m.name), ...health]) {
    assert.ok(doc.includes(`\`${name}`), `docs/exporter.md mentions ${name}`);
  }
  for (const key of Object.keys(TIMING_DEFAULTS))
    assert.ok(doc.includes(`\`${key}\``), `docs mention the setting ${key}`);
});
