// The exporter's command line (defaults, env connection string, refusals) and its documentation:
// docs/exporter.md names every family the exporter can expose and every flag it accepts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { AUTOSCALING_FAMILY_NAMES } from "../src/exporter/exporter-families.js";
import { CONNSTR_ENV, parseExporterFlags, USAGE } from "../src/exporter/exporter-flags.js";
import { POSTGRES_SET } from "../src/exporter/postgres-set.js";

test("flags: defaults, connection string from the environment, refusals with the flag's name", () => {
  const c = parseExporterFlags(["--pgdata", "/d"], { [CONNSTR_ENV]: "postgresql://u@h/db" });
  assert.equal(c.connstr, "postgresql://u@h/db");
  assert.equal(c.ttlMs, 1000);
  assert.ok(c.ttlMs <= 1000, "the TTL default keeps values at most a second old");
  assert.equal(c.scrapeDeadlineMs, 1000);
  assert.equal(c.stateFile, null);
  const d = parseExporterFlags(["--pgdata", "/d", "--connstr", "postgresql://x@y/z", "--ttl-ms", "250"], {});
  assert.equal(d.connstr, "postgresql://x@y/z");
  assert.equal(d.ttlMs, 250);
  assert.throws(() => parseExporterFlags(["--pgdata", "/d"], {}), /--connstr/);
  assert.throws(() => parseExporterFlags(["--connstr", "postgresql://x@y/z"], {}), /--pgdata/);
  assert.throws(
    () => parseExporterFlags(["--pgdata", "/d", "--ttl-ms", "-1"], { [CONNSTR_ENV]: "x" }),
    /--ttl-ms/,
  );
  assert.throws(() => parseExporterFlags(["--pgdata", "/d", "--bogus"], { [CONNSTR_ENV]: "x" }), /bogus/);
});

test("docs/exporter.md lists every family, health family and flag", () => {
  const doc = readFileSync(new URL("../docs/exporter.md", import.meta.url), "utf8");
  const source = readFileSync(new URL("../src/exporter/exposition.ts", import.meta.url), "utf8");
  const health = [...source.matchAll(/name: "(compute_exporter_\w+)"/g)].map((m) => m[1]);
  assert.ok(health.length >= 8);
  for (const name of [...AUTOSCALING_FAMILY_NAMES, ...POSTGRES_SET.map((m) => m.name), ...health]) {
    assert.ok(doc.includes(`\`${name}`), `docs/exporter.md mentions ${name}`);
  }
  for (const flag of USAGE.matchAll(/^\s+(--[a-z-]+)/gm))
    assert.ok(doc.includes(`\`${flag[1]}`), `docs mention ${flag[1]}`);
});
