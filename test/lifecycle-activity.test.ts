// End to end: the activity monitor's last_active and downtime counters.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import pg from "pg";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";

const agents: RunningAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
});

async function metric(agent: RunningAgent, name: string): Promise<number> {
  const text = await (await agent.get("/metrics")).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

async function eventually(check: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${what} did not happen within ${ms} ms`);
}

test("last_active moves when a client runs a query, not when only the agent is connected", async () => {
  const agent = await startAgent({
    spec: minimalSpec({ skip_pg_catalog_updates: true }),
    args: ["--monitor-interval-ms", "100"],
    name: "activity",
  });
  agents.push(agent);
  await agent.waitForStatus("running");
  await agent.query("CREATE ROLE client LOGIN PASSWORD 'client-pw'");
  await new Promise((r) => setTimeout(r, 600));
  const before = (await agent.status()).last_active;
  await new Promise((r) => setTimeout(r, 600));
  assert.equal((await agent.status()).last_active, before, "only the agent (and a superuser) connected");
  const c = new pg.Client({
    host: "127.0.0.1",
    port: agent.pgPort,
    user: "client",
    password: "client-pw",
    database: "postgres",
  });
  await c.connect();
  try {
    await c.query("SELECT pg_sleep(0.3)");
    await eventually(async () => {
      const now = (await agent.status()).last_active;
      return now !== null && now !== before;
    }, "last_active moving");
  } finally {
    await c.end();
  }
});

test("dropping the monitor's database counts downtime; recreating it ends it while the total stays", async () => {
  const agent = await startAgent({
    spec: minimalSpec({ skip_pg_catalog_updates: true }),
    args: ["--monitor-interval-ms", "100"],
    name: "downtime",
  });
  agents.push(agent);
  await agent.waitForStatus("running");
  assert.equal(await metric(agent, "compute_pg_current_downtime_ms"), 0);
  await agent.query("DROP DATABASE postgres WITH (FORCE)", [], "template1");
  await eventually(async () => (await metric(agent, "compute_pg_current_downtime_ms")) > 0, "downtime > 0");
  await agent.query("CREATE DATABASE postgres", [], "template1");
  await eventually(
    async () => (await metric(agent, "compute_pg_current_downtime_ms")) === 0,
    "downtime back to 0",
  );
  assert.ok((await metric(agent, "compute_pg_downtime_ms_total")) > 0);
});
