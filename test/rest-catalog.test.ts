// End to end: the catalog routes of the REST API on a running compute (/dbs_and_roles external,
// /grants and /extensions on the internal port).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";

let agent: RunningAgent;
before(async () => {
  const spec = minimalSpec();
  const cluster = spec.cluster as Record<string, unknown>;
  cluster.roles = [{ name: "reader", encrypted_password: "0123456789abcdef0123456789abcdef", options: null }];
  cluster.databases = [{ name: "shop", owner: "reader", options: null }];
  agent = await startAgent({ spec, name: "rest-catalog" });
  await agent.waitForStatus("running");
});
after(async () => {
  await agent?.stop();
});

test("GET /dbs_and_roles lists the catalog without password hashes", async () => {
  const res = await agent.get("/dbs_and_roles");
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.doesNotMatch(text, /md5|SCRAM/);
  const body = JSON.parse(text) as {
    roles: { name: string }[];
    databases: { name: string; owner: string }[];
  };
  assert.ok(body.roles.some((r) => r.name === "reader"));
  assert.deepEqual(
    body.databases.filter((d) => d.name === "shop").map((d) => d.owner),
    ["reader"],
  );
});

test("POST /grants grants only missing schema privileges; a repeat is a no-op", async () => {
  const req = { database: "shop", schema: "public", privileges: ["USAGE", "CREATE"], role: "reader" };
  const first = await agent.post(`${agent.internalUrl}/grants`, req);
  assert.equal(first.status, 201, await first.clone().text());
  assert.deepEqual(await first.json(), req);
  const [acl] = await agent.query<{ usage: boolean; create: boolean }>(
    "SELECT has_schema_privilege('reader', 'public', 'USAGE') AS usage, has_schema_privilege('reader', 'public', 'CREATE') AS create",
    [],
    "shop",
  );
  assert.deepEqual(acl, { usage: true, create: true });
  const second = await agent.post(`${agent.internalUrl}/grants`, req);
  assert.equal(second.status, 201);
  const bad = await agent.post(`${agent.internalUrl}/grants`, { ...req, privileges: ["FLY"] });
  assert.equal(bad.status, 422); // as Neon: JSON of the wrong shape
});

test("POST /extensions creates an extension at a version; a repeat is a no-op", async () => {
  const [{ v }] = await agent.query<{ v: string }>(
    "SELECT max(version) AS v FROM pg_available_extension_versions WHERE name = 'pg_trgm'",
  );
  const req = { extension: "pg_trgm", database: "shop", version: v };
  const first = await agent.post(`${agent.internalUrl}/extensions`, req);
  assert.equal(first.status, 201, await first.clone().text());
  assert.deepEqual(await first.json(), { extension: "pg_trgm", version: v });
  const [{ extversion }] = await agent.query<{ extversion: string }>(
    "SELECT extversion FROM pg_extension WHERE extname = 'pg_trgm'",
    [],
    "shop",
  );
  assert.equal(extversion, v);
  assert.equal((await agent.post(`${agent.internalUrl}/extensions`, req)).status, 201);
});
