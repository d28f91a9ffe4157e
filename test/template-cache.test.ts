// The initdb source's template cache with a real initdb and real Postgres: a miss publishes a
// template, a hit copies it into a working cluster, and a damaged template (deleted, truncated or
// rewritten file) is detected, never started from, and rebuilt. A cache directory that cannot
// be created falls back to initdb with a warning.
import assert from "node:assert/strict";
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { cachedInitdbSource } from "../src/startup/sources/template-cache-source.js";
import { startComputePostgres } from "./support/compute-postgres.js";
import { pgOsUser, tempDir } from "./support/postgres.js";
import { specJson, type TestSourceContext, testSourceContext } from "./support/source-context.js";

const root = tempDir("cct-tc-");
const cacheDir = path.join(root, "cache");
after(() => rmSync(root, { recursive: true, force: true }));

interface Run {
  ctx: TestSourceContext;
  logs: Record<string, unknown>[];
}

/** Runs the cached source once into a fresh data dir; the caller cleans up `ctx`. */
async function prepare(dir = cacheDir): Promise<Run> {
  const logs: Record<string, unknown>[] = [];
  const base = testSourceContext(specJson({}));
  const log = pino({ level: "info" }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const ctx: TestSourceContext = { ...base, log };
  await cachedInitdbSource(dir).prepare(ctx);
  return { ctx, logs };
}

function templateDirs(dir = cacheDir): string[] {
  return readdirSync(dir).filter((n) => n.startsWith("initdb-"));
}

function templateData(): string {
  const dirs = templateDirs();
  assert.equal(dirs.length, 1, `one template in ${cacheDir}: ${dirs.join(", ")}`);
  return path.join(cacheDir, dirs[0], "data");
}

function warnings(run: Run): string[] {
  return run.logs.filter((l) => l.level === 40).map((l) => `${l.msg} ${l.reason ?? l.error ?? ""}`);
}

before(async () => {
  const first = await prepare();
  first.ctx.cleanup();
  assert.ok(first.ctx.metrics.has("initdb_ms"), "a miss runs initdb");
  assert.ok(first.ctx.metrics.has("template_publish_ms"), "a miss publishes the template");
});

test("the cache directory is created 0700 and holds one complete template owned by the Postgres user", () => {
  assert.equal(statSync(cacheDir).mode & 0o777, 0o700);
  const data = templateData();
  assert.equal(readFileSync(path.join(data, "PG_VERSION"), "utf8").trim(), "15");
  assert.ok(!existsSync(path.join(data, "postmaster.pid")), "no runtime files in the template");
  const manifest = JSON.parse(readFileSync(path.join(data, "..", "manifest.json"), "utf8"));
  assert.match(manifest.postgresVersion, /PostgreSQL\) 15\./);
  assert.ok(manifest.entries.length > 500, "every file of the cluster is listed");
  if (pgOsUser) assert.equal(statSync(path.join(data, "global", "pg_control")).uid, pgOsUser.uid);
  assert.deepEqual(
    readdirSync(cacheDir).filter((n) => n.startsWith(".")),
    [],
    "no build or trash directories left",
  );
});

test("a hit copies the template into a cluster that starts and leaves the template unchanged", async (t) => {
  const manifestFile = path.join(templateData(), "..", "manifest.json");
  const manifestBefore = readFileSync(manifestFile, "utf8");
  const run = await prepare();
  t.after(() => run.ctx.cleanup());
  assert.ok(run.ctx.metrics.has("template_copy_ms"), "started from the template");
  assert.ok(!run.ctx.metrics.has("initdb_ms"), "no initdb on a hit");
  if (pgOsUser) {
    assert.equal(statSync(path.join(run.ctx.pgdata, "base", "1")).uid, pgOsUser.uid);
    assert.equal(statSync(path.join(run.ctx.pgdata, "PG_VERSION")).uid, pgOsUser.uid);
  }
  assert.equal(statSync(path.join(run.ctx.pgdata, "global", "pg_control")).mode & 0o777, 0o600);
  const pg = await startComputePostgres(run.ctx.pgdata);
  t.after(() => pg.stop());
  const rows = await pg.query<{ n: string }>("SELECT count(*) AS n FROM pg_database");
  assert.equal(Number(rows[0].n), 3, "postgres, template0, template1");
  await pg.query("CREATE TABLE written_by_the_compute (x int)");
  await pg.stop();
  // The compute wrote to its copy only: the template still verifies and starts clean.
  assert.equal(readFileSync(manifestFile, "utf8"), manifestBefore);
  const again = await prepare();
  t.after(() => again.ctx.cleanup());
  assert.ok(again.ctx.metrics.has("template_copy_ms"));
  assert.deepEqual(warnings(again), []);
});

const damages: [string, (data: string) => void, RegExp][] = [
  ["a deleted file", (data) => unlinkSync(path.join(data, "global", "pg_filenode.map")), /missing/],
  ["a truncated file", (data) => truncateSync(path.join(data, "base", "1", "1259"), 8192), /size/],
  [
    "a rewritten version marker of the same size",
    (data) => writeFileSync(path.join(data, "PG_VERSION"), "14\n"),
    /PG_VERSION/,
  ],
  ["a file added to the cluster", (data) => appendFileSync(path.join(data, "postmaster.pid"), "1\n"), /data/],
  [
    "a file modified in place with its size unchanged",
    (data) => {
      const f = path.join(data, "global", "pg_control");
      const buf = readFileSync(f);
      buf[100] ^= 0xff;
      writeFileSync(f, buf);
    },
    /pg_control/,
  ],
];

for (const [what, damage, reason] of damages) {
  test(`a template with ${what} is detected, not started from, and rebuilt`, async (t) => {
    const oldDir = path.dirname(templateData());
    const oldIno = statSync(oldDir).ino;
    damage(templateData());
    const run = await prepare();
    t.after(() => run.ctx.cleanup());
    const warned = warnings(run);
    assert.ok(
      warned.some((w) => /damaged/.test(w) && reason.test(w)),
      `warning names the damage: ${warned.join(" | ")}`,
    );
    assert.ok(run.ctx.metrics.has("initdb_ms"), "fell back to initdb");
    assert.ok(run.ctx.metrics.has("template_publish_ms"), "published a new template");
    assert.notEqual(statSync(path.dirname(templateData())).ino, oldIno, "the template was replaced");
    // The data dir is a fresh initdb, not a partial copy of the damaged template.
    assert.equal(readFileSync(path.join(run.ctx.pgdata, "PG_VERSION"), "utf8"), "15\n");
    assert.ok(!existsSync(path.join(run.ctx.pgdata, "postmaster.pid")));
    const pg = await startComputePostgres(run.ctx.pgdata);
    t.after(() => pg.stop());
    assert.equal((await pg.query("SELECT 1 AS one"))[0].one, 1);
    // The rebuilt template is whole: the next start copies it without warnings.
    const next = await prepare();
    t.after(() => next.ctx.cleanup());
    assert.ok(next.ctx.metrics.has("template_copy_ms"));
    assert.deepEqual(warnings(next), []);
  });
}

test("a manifest that no longer parses is detected and the template rebuilt", async (t) => {
  const manifest = path.join(templateData(), "..", "manifest.json");
  writeFileSync(manifest, readFileSync(manifest, "utf8").slice(0, 100));
  const run = await prepare();
  t.after(() => run.ctx.cleanup());
  assert.ok(
    warnings(run).some((w) => /damaged.*manifest/.test(w)),
    warnings(run).join(" | "),
  );
  assert.ok(run.ctx.metrics.has("template_publish_ms"));
});

test("a manifest whose identities are not numbers is detected and the template rebuilt", async (t) => {
  const manifest = path.join(templateData(), "..", "manifest.json");
  const m = JSON.parse(readFileSync(manifest, "utf8"));
  m.entries[m.entries.length - 1].ino = "not-a-number";
  writeFileSync(manifest, JSON.stringify(m));
  const run = await prepare();
  t.after(() => run.ctx.cleanup());
  assert.ok(
    warnings(run).some((w) => /damaged.*manifest/.test(w)),
    warnings(run).join(" | "),
  );
  assert.ok(run.ctx.metrics.has("template_publish_ms"));
});

test("a cache directory others can write to is not used", async (t) => {
  const shared = path.join(root, "shared");
  mkdirSync(shared, { mode: 0o777 });
  chmodSync(shared, 0o777);
  const run = await prepare(shared);
  t.after(() => run.ctx.cleanup());
  assert.ok(run.ctx.metrics.has("initdb_ms"));
  assert.ok(
    warnings(run).some((w) => /template cache unavailable/.test(w) && /writable by others/.test(w)),
    warnings(run).join(" | "),
  );
  assert.deepEqual(readdirSync(shared), [], "nothing published there");
});

test("a cache directory under a regular file falls back to initdb with a warning", async (t) => {
  const file = path.join(root, "not-a-dir");
  writeFileSync(file, "x");
  const run = await prepare(path.join(file, "cache"));
  t.after(() => run.ctx.cleanup());
  assert.ok(run.ctx.metrics.has("initdb_ms"));
  assert.ok(!run.ctx.metrics.has("template_copy_ms"));
  assert.ok(
    warnings(run).some((w) => /template cache unavailable/.test(w) && /not-a-dir/.test(w)),
    warnings(run).join(" | "),
  );
  assert.equal(readFileSync(path.join(run.ctx.pgdata, "PG_VERSION"), "utf8"), "15\n");
});
