// End to end: the agent starts a streaming replica from a base backup of a real primary, then
// promotes it through POST /promote (Postgres TLS from compute_ctl_config.tls stays on across
// the promotion); and a Primary-mode fork is independent of its source.
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { issueCertificate, makeCa } from "./support/certificates.js";
import { startTestPostgres, type TestPostgres, tempDir } from "./support/postgres.js";

let primary: TestPostgres;
const agents: RunningAgent[] = [];
before(async () => {
  primary = await startTestPostgres({
    settings: { wal_level: "replica", max_wal_senders: "10" },
    hba: ["host replication all 127.0.0.1/32 trust"],
  });
  await primary.query("CREATE TABLE items (id int PRIMARY KEY, note text)");
  await primary.query("INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 100) g");
});
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await primary?.stop();
});

async function eventually<T>(fn: () => Promise<T | null>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn().catch(() => null);
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not happen within ${ms} ms`);
}

/** A hot standby needs max_connections >= the primary's (100 by default). */
function replicaSpec(extra: Record<string, unknown>): Record<string, unknown> {
  const spec = minimalSpec(extra);
  (spec.cluster as { settings: unknown[] }).settings = [
    { name: "max_connections", value: "100", vartype: "integer" },
  ];
  return spec;
}

test("a replica from a primary base backup follows the primary, refuses writes, and promotes", async () => {
  const certs = tempDir("replica-tls-");
  after(() => rmSync(certs, { recursive: true, force: true }));
  const pair = issueCertificate(makeCa(certs, "ca"), path.join(certs, "pair"), { name: "replica" });
  const agent = await startAgent({
    config: {
      spec: replicaSpec({
        mode: "Replica",
        source: { kind: "primary", connstring: primary.tcpConnstr() },
        features: ["tls_experimental"],
      }),
      compute_ctl_config: { tls: { cert_path: pair.certPath, key_path: pair.keyPath } },
    },
    name: "replica",
  });
  agents.push(agent);
  await agent.waitForStatus("running");
  const ssl = async () => (await agent.query<{ ssl: string }>("SHOW ssl"))[0]?.ssl;
  assert.equal(await ssl(), "on");
  assert.equal((await agent.get("/startupz")).status, 200);
  assert.equal((await agent.get("/ready")).status, 200);
  const [{ n }] = await agent.query<{ n: string }>("SELECT count(*) AS n FROM items");
  assert.equal(Number(n), 100);
  await primary.query("INSERT INTO items VALUES (1000, 'after start')");
  await eventually(
    async () => ((await agent.query("SELECT 1 FROM items WHERE id = 1000")).length === 1 ? true : null),
    60_000,
    "the new primary row on the replica",
  );
  await assert.rejects(agent.query("INSERT INTO items VALUES (2000, 'no')"), /read-only/);
  const timings = (await (await agent.get("/metrics.json")).json()) as Record<string, number>;
  assert.ok(timings.basebackup_ms > 0 && timings.basebackup_bytes > 0);

  const [{ lsn }] = await primary.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn");
  const promoteSpec = replicaSpec({
    mode: "Primary",
    source: { kind: "primary", connstring: primary.tcpConnstr() },
    features: ["tls_experimental"],
  });
  const res = await agent.post("/promote", { spec: promoteSpec, wal_flush_lsn: lsn });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { status: string; pg_promote_time_ms: number };
  assert.equal(body.status, "completed");
  // The promotion rewrote postgresql.conf and reloaded it: TLS is still on in both.
  assert.match(readFileSync(path.join(agent.pgdata, "postgresql.conf"), "utf8"), /^ssl = on$/m);
  await agent.query("SELECT pg_reload_conf()");
  assert.equal(await ssl(), "on", "the promoted compute still serves TLS");
  await agent.query("INSERT INTO items VALUES (3000, 'written on the promoted compute')");
  await primary.query("INSERT INTO items VALUES (3001, 'written on the old primary')");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await primary.query("SELECT 1 FROM items WHERE id = 3000")).length, 0);
  assert.equal((await agent.query("SELECT 1 FROM items WHERE id = 3001")).length, 0);
});

test("a Primary-mode copy is writable and its writes do not reach the source", async () => {
  const agent = await startAgent({
    spec: minimalSpec({ source: { kind: "primary", connstring: primary.tcpConnstr() } }),
    name: "fork",
  });
  agents.push(agent);
  await agent.waitForStatus("running");
  await agent.query("INSERT INTO items VALUES (5000, 'fork only')");
  assert.equal((await primary.query("SELECT 1 FROM items WHERE id = 5000")).length, 0);
});
