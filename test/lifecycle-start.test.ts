// End to end: the agent (bin/compute_ctl) starts a real Postgres from a spec and supervises it.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import {
  AGENT_BIN,
  minimalSpec,
  postmasterPid,
  REPO,
  type RunningAgent,
  startAgent,
} from "./support/agent.js";
import { pgOsUser } from "./support/postgres.js";

const agents: RunningAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
});

test("--help documents every flag", () => {
  const help = execFileSync(AGENT_BIN, ["--help"], { encoding: "utf8" });
  for (const flag of [
    "--pgdata",
    "--connstr",
    "--spec",
    "--config",
    "--compute-id",
    "--control-plane-uri",
    "--pgbin",
    "--external-http-port",
    "--internal-http-port",
    "--http-host",
    "--privileged-role-name",
    "--pg-user",
    "--dev",
    "--grpc-port",
    "--grpc-socket",
  ]) {
    assert.match(help, new RegExp(flag), `help mentions ${flag}`);
  }
});

test("the example spec starts a running compute whose Postgres runs as the postgres OS user", async () => {
  const { readFileSync } = await import("node:fs");
  const spec = JSON.parse(readFileSync(path.join(REPO, "examples/spec.json"), "utf8"));
  const agent = await startAgent({ spec, name: "example" });
  agents.push(agent);
  await agent.waitForStatus("running");
  const pid = postmasterPid(agent.pgdata);
  const uid = Number(/Uid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
  if (pgOsUser) {
    assert.equal(uid, pgOsUser.uid, "postmaster runs as the postgres OS user");
    assert.equal(statSync(agent.pgdata).uid, pgOsUser.uid, "data dir owned by the postgres user");
  }
  assert.equal(statSync(agent.pgdata).mode & 0o777, 0o700);
  const dbs = await agent.query<{ datname: string }>("SELECT datname FROM pg_database ORDER BY 1");
  assert.ok(dbs.some((d) => d.datname === "appdb"));
  const timings = (await (await agent.get("/metrics.json")).json()) as Record<string, number>;
  for (const k of [
    "total_startup_ms",
    "start_postgres_ms",
    "config_ms",
    "wait_for_spec_ms",
    "basebackup_ms",
  ]) {
    assert.equal(typeof timings[k], "number", k);
  }
  assert.ok(timings.total_startup_ms > 0 && timings.start_postgres_ms > 0);
});

const TRICKY = [
  "with space",
  "quote'single",
  'quote"double',
  "dollar$name",
  "per%cent",
  "emoji🐘name",
  "a".repeat(63),
];

test("tricky role and database names exist exactly; a string setting with ' and \\ reads back via SHOW", async () => {
  const spec = minimalSpec();
  const cluster = spec.cluster as Record<string, unknown>;
  cluster.roles = TRICKY.map((name) => ({ name, encrypted_password: null, options: null }));
  cluster.databases = TRICKY.map((name) => ({ name, owner: name, options: null }));
  const tricky = "it's a back\\slash";
  cluster.settings = [{ name: "cctl.tricky", value: tricky, vartype: "string" }];
  const agent = await startAgent({ spec, name: "tricky" });
  agents.push(agent);
  await agent.waitForStatus("running");
  const roles = (await agent.query<{ rolname: string }>("SELECT rolname FROM pg_roles")).map(
    (r) => r.rolname,
  );
  const dbs = await agent.query<{ datname: string; owner: string }>(
    "SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database",
  );
  for (const name of TRICKY) {
    assert.ok(roles.includes(name), `role ${name}`);
    const db = dbs.find((d) => d.datname === name);
    assert.ok(db, `database ${name}`);
    assert.equal(db.owner, name);
  }
  const [row] = await agent.query<{ v: string }>("SELECT current_setting('cctl.tricky') AS v");
  assert.equal(row.v, tricky);
});

test("empty start + POST /configure passes configuration_pending and init to running (as Neon)", async () => {
  const agent = await startAgent({ name: "empty-configure" });
  agents.push(agent);
  assert.equal((await agent.status()).status, "empty");
  await new Promise((r) => setTimeout(r, 1200));
  const t0 = Date.now();
  const res = await agent.post("/configure", {
    spec: minimalSpec(),
  });
  const elapsed = Date.now() - t0;
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { status: string };
  assert.equal(body.status, "running");
  const transitions = agent
    .logEntries()
    .filter((e) => typeof e.to === "string")
    .map((e) => e.to);
  assert.deepEqual(transitions.slice(0, 3), ["configuration_pending", "init", "running"]);
  const timings = (await (await agent.get("/metrics.json")).json()) as Record<string, number>;
  assert.ok(timings.wait_for_spec_ms >= 1200, `wait_for_spec_ms ${timings.wait_for_spec_ms}`);
  assert.ok(
    timings.total_startup_ms <= elapsed + 50,
    `total ${timings.total_startup_ms} excludes the wait (${elapsed})`,
  );
  // A second configure while one is applied, or in the wrong state, is 412; a spec of the wrong
  // shape is 422 (as Neon's JSON extractor answers).
  const bad = await agent.post("/configure", { spec: { format_version: 1, cluster: { roles: "x" } } });
  assert.equal(bad.status, 422);
  assert.match(((await bad.json()) as { error: string }).error, /\$\.spec\.cluster\.roles/);
});

test("the Prometheus output parses and compute_ctl_up has exactly one series at 1", async () => {
  const agent = await startAgent({ spec: minimalSpec(), name: "prom" });
  agents.push(agent);
  await agent.waitForStatus("running");
  const text = await (await agent.get("/metrics")).text();
  const { strictParse } = await import("./support/prometheus-strict.js");
  const families = strictParse(text);
  const up = families.get("compute_ctl_up");
  assert.ok(up);
  const ones = up.samples.filter((s) => s.value === 1);
  assert.equal(up.samples.length, 1);
  assert.equal(ones.length, 1);
  assert.equal(ones[0].labels.status, "running");
  assert.ok(families.has("compute_pg_current_downtime_ms"));
  assert.ok(families.has("compute_pg_downtime_ms_total"));
});

test("REST basics: unknown path 404, wrong method 405, x-request-id on every answer", async () => {
  const agent = await startAgent({ name: "rest-basics" });
  agents.push(agent);
  const r404 = await agent.get("/nope");
  assert.equal(r404.status, 404);
  assert.ok(r404.headers.get("x-request-id"));
  const r405 = await agent.get("/configure");
  assert.equal(r405.status, 405);
  const mine = await agent.get("/status", { headers: { "x-request-id": "abc-123" } });
  assert.equal(mine.headers.get("x-request-id"), "abc-123");
  assert.equal((await agent.get("/ready")).status, 503);
});

test("migrations run once in the background after start and are recorded in the postgres database", async () => {
  const agent = await startAgent({ spec: minimalSpec(), name: "migrations" });
  agents.push(agent);
  await agent.waitForStatus("running");
  let id = 0;
  for (let i = 0; i < 400 && (id === 0 || !/migrations done/.test(agent.logs())); i++) {
    const rows = await agent
      .query<{ id: string }>("SELECT id FROM neon_migration.migration_id WHERE key = 0")
      .catch(() => [{ id: "0" }]);
    id = Number(rows[0]?.id ?? 0);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(id > 0, "migration id bumped");
  assert.match(agent.logs(), /migrations done/);
});
