// The operator-facing routes against the real agent: /database_schema (tricky names, 404, a
// client that goes away mid-dump leaves no pg_dump behind), /insights (with and without
// pg_stat_statements), /check_writability, /info, the 412s of a compute that is not running,
// and /healthz answering while Postgres is frozen with SIGSTOP.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { quoteIdent } from "../src/postgres/quote.js";
import { minimalSpec, postmasterPid, type RunningAgent, startAgent } from "./support/agent.js";
import { pgBinaries } from "./support/postgres.js";

/** Pids of pg_dump processes connecting to `port`. */
function pgDumpPids(port: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const zombie = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
      if (!zombie && cmd[0]?.endsWith("pg_dump") && cmd.includes(String(port))) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

async function waitUntil(what: string, ms: number, fn: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
}

const TRICKY_DB = `tricky "db' $1 ü`;
const TRICKY_TABLE = `t "quoted' ö`;

describe("a running primary", () => {
  let agent: RunningAgent;

  before(async () => {
    const spec = minimalSpec();
    const cluster = spec.cluster as Record<string, unknown>;
    cluster.postgresql_conf += "\nshared_preload_libraries = 'pg_stat_statements'";
    const md5 = `md5${createHash("md5")
      .update("app-pw" + "app")
      .digest("hex")}`;
    cluster.roles = [{ name: "app", encrypted_password: md5, options: null }];
    cluster.databases = [{ name: TRICKY_DB, owner: "app", options: null }];
    agent = await startAgent({ spec, name: "ops-routes" });
    await agent.waitForStatus("running");
  });
  after(async () => {
    await agent?.stop();
  });

  test("/database_schema of a database with a tricky name is a complete dump that restores", async () => {
    await agent.query(
      `CREATE TABLE ${quoteIdent(TRICKY_TABLE)} (id int PRIMARY KEY, "näme" text NOT NULL DEFAULT 'x''y');
       CREATE VIEW v AS SELECT * FROM ${quoteIdent(TRICKY_TABLE)};
       CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql AS $$ SELECT a + 1 $$;`,
      [],
      TRICKY_DB,
    );
    const res = await agent.get(`/database_schema?database=${encodeURIComponent(TRICKY_DB)}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json"); // as Neon labels it
    const dump = await res.text();
    assert.match(dump, /-- PostgreSQL database dump complete/);
    assert.ok(dump.includes(`CREATE TABLE public.${quoteIdent(TRICKY_TABLE)}`), "table");
    assert.ok(dump.includes("CREATE VIEW public.v"), "view");
    assert.ok(dump.includes("CREATE FUNCTION public.f(a integer)"), "function");
    assert.doesNotMatch(dump, /INSERT INTO|COPY public/, "schema only");

    // Complete means it restores into the same objects.
    await agent.query("CREATE DATABASE restored");
    execFileSync(
      pgBinaries.tool("psql"),
      [
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        String(agent.pgPort),
        "-U",
        "postgres",
        "restored",
      ],
      { input: dump, stdio: ["pipe", "ignore", "pipe"] },
    );
    const columns = `SELECT table_name, column_name, data_type, column_default
                       FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2`;
    assert.deepEqual(await agent.query(columns, [], "restored"), await agent.query(columns, [], TRICKY_DB));
  });

  test("/database_schema: 404 for a missing database, 400 without the parameter", async () => {
    const missing = await agent.get(`/database_schema?database=${encodeURIComponent("no such db")}`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { error: "database does not exist" });
    const none = await agent.get("/database_schema");
    assert.equal(none.status, 400);
    assert.match(((await none.json()) as { error: string }).error, /database/);
    assert.deepEqual(pgDumpPids(agent.pgPort), []);
  });

  test("/database_schema: a client that goes away mid-dump leaves no pg_dump behind", async () => {
    // ~40 MB of schema (comments are part of it) so the dump outlasts every socket buffer.
    await agent.query("CREATE DATABASE bigschema");
    await agent.query(
      `DO $$ BEGIN FOR i IN 1..40 LOOP
         EXECUTE format('CREATE TABLE %I (id int)', 'big_' || i);
         EXECUTE format('COMMENT ON TABLE %I IS %L', 'big_' || i, repeat(md5(i::text), 31250));
       END LOOP; END $$`,
      [],
      "bigschema",
    );
    const firstChunk = new Promise<{ req: http.ClientRequest; res: http.IncomingMessage }>(
      (resolve, reject) => {
        const req = http.get(`${agent.url}/database_schema?database=bigschema`, (res) => {
          assert.equal(res.statusCode, 200);
          res.once("data", () => {
            res.pause();
            resolve({ req, res });
          });
        });
        req.on("error", reject);
      },
    );
    const { req } = await firstChunk;
    // The dump is running and blocked on the client that stopped reading.
    await sleep(300);
    assert.equal(pgDumpPids(agent.pgPort).length, 1, "pg_dump runs while the client holds the stream");
    req.destroy();
    await waitUntil(
      "pg_dump gone after the client disconnected",
      60_000,
      () => pgDumpPids(agent.pgPort).length === 0,
    );
    // The agent is fine afterwards.
    const again = await agent.get("/database_schema?database=postgres");
    assert.equal(again.status, 200);
    assert.match(await again.text(), /dump complete/);
  });

  test("/insights lists top statements of other roles; the agent's own role is left out", async () => {
    // With pg_stat_statements preloaded, the agent creates the extension (as Neon does).
    const [ext] = await agent.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'");
    assert.ok(ext, "pg_stat_statements created by the agent");
    const pg = await import("pg");
    const app = new pg.default.Client({
      host: "127.0.0.1",
      port: agent.pgPort,
      user: "app",
      password: "app-pw",
      database: "postgres",
    });
    await app.connect();
    try {
      for (let i = 0; i < 3; i++) await app.query("SELECT pg_sleep(0.01), $1::int AS marker", [i]);
    } finally {
      await app.end();
    }
    const res = await agent.get("/insights");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    // As Neon: a JSON string holding the document, its numbers exactly as Postgres printed them.
    const text = (await res.json()) as string;
    assert.equal(typeof text, "string");
    const body = JSON.parse(text) as { pg_stat_statements: Record<string, unknown>[]; reason?: string };
    assert.equal(body.reason, undefined);
    const [{ oid: appOid }] = await agent.query<{ oid: number }>(
      "SELECT oid::int FROM pg_roles WHERE rolname = 'app'",
    );
    const [{ oid: ownOid }] = await agent.query<{ oid: number }>(
      "SELECT oid::int FROM pg_roles WHERE rolname = 'postgres'",
    );
    const mine = body.pg_stat_statements.find((s) => String(s.query).includes("marker"));
    assert.ok(mine, JSON.stringify(body).slice(0, 2000));
    // row_to_json prints oids as strings (as Neon's /insights has them).
    assert.equal(Number(mine.userid), appOid);
    assert.equal(mine.calls, 3);
    assert.equal(typeof mine.queryid, "number");
    const [{ q }] = await agent.query<{ q: string }>(
      "SELECT queryid::text AS q FROM pg_stat_statements WHERE query LIKE '%marker%' LIMIT 1",
    );
    assert.ok(text.includes(`"queryid":${q}`), `queryid ${q} printed exactly in ${text.slice(0, 300)}`);
    assert.ok(
      body.pg_stat_statements.every((s) => Number(s.userid) !== ownOid),
      "no statement of the agent's role",
    );
    const means = body.pg_stat_statements.map((s) => Number(s.mean_exec_time) + Number(s.mean_plan_time));
    assert.deepEqual(
      means,
      [...means].sort((a, b) => b - a),
      "ordered by mean time, highest first",
    );
  });

  test("/check_writability creates public.health_check once and upserts its row", async () => {
    const first = await agent.post("/check_writability");
    assert.equal(first.status, 200);
    assert.equal(await first.text(), "true");
    const [a] = await agent.query<{ n: number; t: Date }>(
      "SELECT count(*)::int AS n, max(updated_at) AS t FROM public.health_check",
    );
    assert.equal(a.n, 1);
    await sleep(20);
    assert.equal((await agent.post("/check_writability")).status, 200);
    const [b] = await agent.query<{ n: number; t: Date }>(
      "SELECT count(*)::int AS n, max(updated_at) AS t FROM public.health_check",
    );
    assert.equal(b.n, 1);
    assert.ok(b.t > a.t, "the row was updated");
  });

  test("/info reports CPUs, memory, versions and uptime", async () => {
    const info = (await (await agent.get("/info")).json()) as Record<string, unknown>;
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    const pgVersion = execFileSync(pgBinaries.postgres, ["--version"], { encoding: "utf8" });
    assert.ok(Number.isInteger(info.num_cpus) && (info.num_cpus as number) >= 1);
    assert.ok(Number.isInteger(info.memory_bytes) && (info.memory_bytes as number) > 64 * 1024 * 1024);
    assert.ok(pgVersion.includes(`(PostgreSQL) ${info.pg_version}`), `${info.pg_version} in ${pgVersion}`);
    assert.match(String(info.pg_version), /^15\./);
    // The agent found the same binaries the tests did (no -b: PATH or /usr/lib/postgresql).
    assert.equal(info.pg_binary, pgBinaries.postgres);
    assert.ok(["PATH", "system"].includes(String(info.pg_binaries_source)), String(info.pg_binaries_source));
    assert.equal(info.agent_version, pkg.version);
    assert.ok(typeof info.uptime_s === "number" && info.uptime_s > 0 && info.uptime_s < 600);
  });

  test("/healthz answers while Postgres is frozen with SIGSTOP (it never waits on Postgres)", async () => {
    const pgid = postmasterPid(agent.pgdata);
    // Postgres runs in its own process group: stop the postmaster and every backend.
    process.kill(-pgid, "SIGSTOP");
    try {
      await sleep(200);
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        // A liveness probe that touched Postgres would never answer; its latency is a bench row.
        const res = await agent.get("/healthz", { signal: AbortSignal.timeout(60_000) });
        const ms = performance.now() - t0;
        assert.equal(res.status, 200);
        assert.ok(ms < 30_000, `/healthz took ${ms.toFixed(0)} ms`);
        await res.body?.cancel();
      }
      const frozen = readFileSync(`/proc/${pgid}/stat`, "utf8");
      assert.equal(
        frozen.slice(frozen.lastIndexOf(")") + 2, frozen.lastIndexOf(")") + 3),
        "T",
        "Postgres was stopped",
      );
    } finally {
      process.kill(-pgid, "SIGCONT");
    }
    assert.equal((await agent.post("/check_writability")).status, 200, "Postgres works again after SIGCONT");
  });
});

describe("a compute that is not running", () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await startAgent({ name: "ops-empty" });
  });
  after(async () => {
    await agent?.stop();
  });

  test("/insights and /check_writability are 412, /database_schema 503, /info works", async () => {
    for (const [method, path] of [
      ["GET", "/insights"],
      ["POST", "/check_writability"],
    ]) {
      const res = await fetch(`${agent.url}${path}`, { method });
      assert.equal(res.status, 412, path);
      assert.deepEqual(await res.json(), { error: "invalid compute status: empty" });
    }
    const schema = await agent.get("/database_schema?database=postgres");
    assert.equal(schema.status, 503);
    assert.match(((await schema.json()) as { error: string }).error, /unreachable/);
    const info = await agent.get("/info");
    assert.equal(info.status, 200);
    assert.match(((await info.json()) as { pg_version: string }).pg_version, /^15\./);
  });

  test("/insights without pg_stat_statements (not created, not preloaded) gives the reason", async () => {
    const res = await agent.post("/configure", { spec: minimalSpec() });
    assert.equal(res.status, 200);
    type Insights = { pg_stat_statements: unknown[]; reason?: string };
    const insights = async () =>
      JSON.parse((await (await agent.get("/insights")).json()) as string) as Insights;
    const missing = await insights();
    assert.deepEqual(missing, {
      pg_stat_statements: [],
      reason: 'the pg_stat_statements extension is not installed in database "postgres"',
    });
    await agent.query("CREATE EXTENSION pg_stat_statements");
    const body = await insights();
    assert.deepEqual(body.pg_stat_statements, []);
    assert.match(body.reason ?? "", /not loaded: add it to shared_preload_libraries/);
  });
});
