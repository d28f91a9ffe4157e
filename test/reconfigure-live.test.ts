// End to end: live reconfiguration of a running compute through POST /configure.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, test } from "node:test";
import pg from "pg";
import { minimalSpec, postmasterPid, type RunningAgent, startAgent } from "./support/agent.js";

const agents: RunningAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
});

function specWith(
  settings: { name: string; value: string; vartype: string }[],
  extra: Record<string, unknown> = {},
) {
  const spec = minimalSpec(extra);
  (spec.cluster as { settings: unknown[] }).settings = settings;
  return spec;
}

test("a string setting changed via /configure shows in SHOW without a restart", async () => {
  const agent = await startAgent({
    spec: specWith([{ name: "cctl.greeting", value: "hello", vartype: "string" }], {
      skip_pg_catalog_updates: true,
    }),
    name: "reconfigure-setting",
  });
  agents.push(agent);
  await agent.waitForStatus("running");
  const pid = postmasterPid(agent.pgdata);
  const value = "it's \\ new";
  const res = await agent.post("/configure", {
    spec: specWith([{ name: "cctl.greeting", value, vartype: "string" }], { skip_pg_catalog_updates: true }),
    compute_ctl_config: { jwks: { keys: [] } },
  });
  assert.equal(res.status, 200, await res.clone().text());
  // The reload is asynchronous in the postmaster; poll for a fresh session that has it.
  let seen = "";
  await waitUntil(async () => {
    [{ v: seen }] = await agent.query<{ v: string }>("SELECT current_setting('cctl.greeting') AS v");
    return seen === value;
  }, "the new setting in a new session").catch(() => {});
  assert.equal(seen, value);
  assert.equal(postmasterPid(agent.pgdata), pid, "same postmaster");
  const transitions = agent
    .logEntries()
    .filter((e) => typeof e.to === "string")
    .map((e) => `${e.from}->${e.to}`);
  assert.ok(transitions.includes("running->configuration_pending"));
  assert.ok(transitions.includes("configuration_pending->configuration"));
  assert.equal(transitions.at(-1), "configuration->running");
});

test("roles and databases are applied live; a failing spec answers 500 naming the object and the compute stays running", async () => {
  const agent = await startAgent({ spec: minimalSpec(), name: "reconfigure-roles" });
  agents.push(agent);
  await agent.waitForStatus("running");
  const pid = postmasterPid(agent.pgdata);
  const spec = minimalSpec();
  const cluster = spec.cluster as Record<string, unknown>;
  cluster.roles = [{ name: "live_role", encrypted_password: null, options: null }];
  cluster.databases = [{ name: "live_db", owner: "live_role", options: null }];
  const ok = await agent.post("/configure", { spec, compute_ctl_config: { jwks: { keys: [] } } });
  assert.equal(ok.status, 200, await ok.clone().text());
  const [db] = await agent.query<{ owner: string }>(
    "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'live_db'",
  );
  assert.equal(db.owner, "live_role");

  // Users' per-database settings must not break the agent's own sessions.
  // (Issued from template1: these settings would hit the test's own sessions too.)
  for (const sql of [
    "ALTER DATABASE live_db SET default_transaction_read_only = on",
    "ALTER DATABASE postgres SET statement_timeout = 1",
    "ALTER DATABASE postgres SET search_path = nowhere",
    "ALTER DATABASE postgres SET role = live_role",
  ]) {
    await agent.query(sql, [], "template1");
  }
  cluster.roles = [
    { name: "live_role", encrypted_password: null, options: null },
    { name: "second", encrypted_password: null, options: null },
  ];
  const again = await agent.post("/configure", { spec, compute_ctl_config: { jwks: { keys: [] } } });
  assert.equal(again.status, 200, await again.clone().text());
  await agent.query("ALTER DATABASE postgres RESET ALL", [], "template1");

  cluster.databases = [{ name: "orphan_db", owner: "no_such_owner", options: null }];
  const bad = await agent.post("/configure", { spec, compute_ctl_config: { jwks: { keys: [] } } });
  assert.equal(bad.status, 500);
  const badError = ((await bad.json()) as { error: string }).error;
  assert.match(badError, /orphan_db/);
  assert.match(badError, /keeps running/);
  const st = await agent.status();
  assert.equal(st.status, "running", "a failed reconfiguration leaves the compute running");
  assert.equal(postmasterPid(agent.pgdata), pid);
  const [alive] = await agent.query<{ one: number }>("SELECT 1 AS one");
  assert.equal(alive.one, 1, "Postgres keeps running");
  const again2 = await agent.post("/configure", {
    spec: minimalSpec(),
    compute_ctl_config: { jwks: { keys: [] } },
  });
  assert.equal(again2.status, 200, "and stays manageable");
});

test("/ready stays 200 while a live reconfigure is under way (Postgres keeps serving)", async () => {
  const role = (password: string | null) => ({
    name: "held_role",
    encrypted_password: password,
    options: null,
  });
  const spec = (password: string | null) => {
    const s = minimalSpec({ skip_pg_catalog_updates: false });
    (s.cluster as Record<string, unknown>).roles = [role(password)];
    return s;
  };
  const agent = await startAgent({ spec: spec(null), name: "reconfigure-ready" });
  agents.push(agent);
  await agent.waitForStatus("running");
  // A row lock on the role's catalog row holds the reconfigure's ALTER ROLE: the reconfigure
  // stays in `configuration` for as long as the test wants, with Postgres serving throughout.
  const holder = new pg.Client({
    host: "127.0.0.1",
    port: agent.pgPort,
    user: "postgres",
    database: "postgres",
  });
  await holder.connect();
  try {
    await holder.query("BEGIN");
    await holder.query("SELECT 1 FROM pg_authid WHERE rolname = 'held_role' FOR UPDATE");
    const md5 = `md5${createHash("md5").update("new-secretheld_role").digest("hex")}`;
    const configured = agent.post("/configure", {
      spec: spec(md5),
      compute_ctl_config: { jwks: { keys: [] } },
    });
    // The reconfigure waits on the lock (seen from Postgres, not guessed from time).
    await waitUntil(async () => {
      const [{ n }] = await agent.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE 'ALTER ROLE%held_role%'",
      );
      return n === 1;
    }, "the reconfigure's ALTER ROLE to wait on the lock");
    assert.equal((await agent.status()).status, "configuration");
    const ready = await agent.get("/ready");
    assert.equal(ready.status, 200, await ready.clone().text());
    assert.deepEqual(await ready.json(), { ready: true, status: "configuration" });
    await holder.query("COMMIT");
    const res = await configured;
    assert.equal(res.status, 200, await res.clone().text());
  } finally {
    await holder.end();
  }
  assert.equal((await agent.status()).status, "running");
  assert.equal((await agent.get("/ready")).status, 200);
  const [{ pw }] = await agent.query<{ pw: string }>(
    "SELECT rolpassword AS pw FROM pg_authid WHERE rolname = 'held_role'",
  );
  assert.match(pw, /^(md5|SCRAM)/, "the new password was applied");
});

async function waitUntil(cond: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
