// Every example in examples/ parses and starts a compute through the real agent, with its
// sources stood in for: a real test primary for the primary source (replica and fork), the
// protocol-level fakes of Neon's pageserver and safekeepers for the neon source, and the
// JWT-protected config. Only the addresses are substituted; everything else is the file as shipped.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { generateKeyPair, SignJWT } from "jose";
import { parseComputeConfig, parseSpec } from "../src/spec/parse.js";
import { REPO, type RunningAgent, startAgent } from "./support/agent.js";
import { makeRepo } from "./support/archive.js";
import { makeClusterTarball, startFakePageserver } from "./support/fake-pageserver.js";
import { startFakeSafekeeper } from "./support/fake-safekeeper.js";
import { makeFakeSyncSafekeepers } from "./support/fake-sync-safekeepers.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

// biome-ignore lint/suspicious/noExplicitAny: example JSON is edited field by field
type Json = Record<string, any>;

function example(name: string): Json {
  return JSON.parse(readFileSync(path.join(REPO, "examples", name), "utf8"));
}

async function eventually<T>(what: string, ms: number, fn: () => Promise<T | null>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("every example parses, and together they cover every data source and mode", () => {
  const files = readdirSync(path.join(REPO, "examples")).filter((f) => f.endsWith(".json"));
  const seen = new Set<string>();
  for (const f of files) {
    const json = example(f);
    const spec = "compute_ctl_config" in json ? parseComputeConfig(json).spec : parseSpec(json);
    assert.ok(spec, `${f} has a spec`);
    seen.add(`${spec.source.kind}/${spec.mode.kind}`);
  }
  for (const combo of [
    "initdb/primary",
    "primary/replica",
    "primary/primary",
    "neon/primary",
    "archive/primary",
  ]) {
    assert.ok(seen.has(combo), `an example with ${combo}`);
  }
  const config = parseComputeConfig(example("config.json"));
  assert.equal(config.computeCtlConfig.jwks?.keys.length, 1, "config.json carries a JWKS");
});

describe("primary source examples against a real primary", () => {
  let primary: TestPostgres;
  const agents: RunningAgent[] = [];
  before(async () => {
    primary = await startTestPostgres({
      settings: { wal_level: "replica", max_wal_senders: "10", max_replication_slots: "10" },
      hba: ["host replication all 127.0.0.1/32 trust"],
    });
    await primary.query("CREATE TABLE items (id int PRIMARY KEY, note text)");
    await primary.query("INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 50) g");
  });
  after(async () => {
    for (const a of agents) await a.stop();
    await primary?.stop();
  });

  test("spec-replica.json: a streaming replica that follows the primary through its slot", async () => {
    const spec = example("spec-replica.json");
    spec.source.connstring = primary.tcpConnstr();
    const agent = await startAgent({ spec, name: "example-replica" });
    agents.push(agent);
    await agent.waitForStatus("running", 60_000);
    const [{ r }] = await agent.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r");
    assert.equal(r, true);
    await primary.query("INSERT INTO items VALUES (51, 'after the copy')");
    const note = await eventually("row replicated", 60_000, async () => {
      const rows = await agent.query<{ note: string }>("SELECT note FROM items WHERE id = 51");
      return rows[0]?.note ?? null;
    });
    assert.equal(note, "after the copy");
    const slots = await primary.query<{ active: boolean }>(
      "SELECT active FROM pg_replication_slots WHERE slot_name = $1",
      [spec.source.slot_name],
    );
    assert.deepEqual(slots, [{ active: true }], "streams through the example's slot");
    const [{ v }] = await agent.query<{ v: string }>("SELECT current_setting('hot_standby_feedback') AS v");
    assert.equal(v, "on", "cluster.settings applied");
  });

  test("spec-primary-fork.json: a writable fork with the primary's data and the example's roles", async () => {
    const spec = example("spec-primary-fork.json");
    spec.source.connstring = primary.tcpConnstr();
    const agent = await startAgent({ spec, name: "example-fork" });
    agents.push(agent);
    await agent.waitForStatus("running", 60_000);
    const [{ r }] = await agent.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r");
    assert.equal(r, false);
    const [{ n }] = await agent.query<{ n: number }>("SELECT count(*)::int AS n FROM items WHERE id <= 50");
    assert.equal(n, 50);
    await agent.query("INSERT INTO items VALUES (1000, 'only on the fork')");
    assert.deepEqual(
      await primary.query("SELECT 1 FROM items WHERE id = 1000"),
      [],
      "the primary is untouched",
    );
    const [db] = await agent.query<{ owner: string }>(
      "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'forkdb'",
    );
    assert.equal(db?.owner, "fork_app");
  });
});

test("spec-archive.json: a durable compute; its data survives a fast terminate and a new start", async (t) => {
  const spec = example("spec-archive.json");
  const repo = makeRepo();
  const started: RunningAgent[] = [];
  // Agents first (they push WAL until they stop), then the repository.
  t.after(async () => {
    for (const a of started) await a.stop();
    repo.cleanup();
  });
  spec.source.repo.path = repo.path;
  spec.source.archive_timeout_seconds = 5;
  const first = await startAgent({ spec, name: "example-archive-0" });
  started.push(first);
  await first.waitForStatus("running", 60_000);
  await first.query("CREATE TABLE kept (note text)", [], "appdb");
  await first.query("INSERT INTO kept VALUES ('survives')", [], "appdb");
  const res = await first.post("/terminate?mode=fast");
  assert.match(String(((await res.json()) as { lsn: string | null }).lsn), /^[0-9A-F]+\/[0-9A-F]+$/);
  await first.exited;
  const second = await startAgent({ spec, name: "example-archive-1" });
  started.push(second);
  await second.waitForStatus("running", 60_000);
  assert.deepEqual(await second.query("SELECT note FROM kept", [], "appdb"), [{ note: "survives" }]);
});

test("spec-neon.json: a primary on (fake) Neon storage; /terminate reports the final sync LSN", async (t) => {
  const spec = example("spec-neon.json");
  const tarball = await makeClusterTarball();
  t.after(() => tarball.cleanup());
  const token = spec.storage_auth_token as string;
  const ps = await startFakePageserver({ tarGz: tarball.file, password: token });
  t.after(() => ps.close());
  const lsn = tarball.lsn;
  const sks = [];
  for (let i = 0; i < spec.safekeeper_connstrings.length; i++) {
    const sk = await startFakeSafekeeper({ status: { flush_lsn: lsn, commit_lsn: lsn }, password: token });
    t.after(() => sk.close());
    sks.push(sk);
  }
  // `postgres --sync-safekeepers` (run after shutdown) is Neon's; a stand-in prints the final LSN.
  const finalLsn = "1/2345678";
  const sync = makeFakeSyncSafekeepers({ lsn: finalLsn });
  t.after(() => sync.cleanup());
  spec.pageserver_connstring = ps.url;
  spec.safekeeper_connstrings = sks.map((s) => s.address);

  const agent = await startAgent({ spec, name: "example-neon", args: ["--pgbin", sync.binaries.postgres] });
  t.after(() => agent.stop());
  await agent.waitForStatus("running", 60_000);
  assert.equal(ps.calls.length, 1);
  // At the safekeepers' LSN; or, when they did not answer within Neon's 100 ms budget (a
  // loaded machine), at the LSN sync-safekeepers agreed on.
  const at = ps.calls[0].command.split(" ")[3];
  assert.ok([lsn, finalLsn].includes(at), ps.calls[0].command);
  assert.equal(ps.calls[0].command, `basebackup ${spec.tenant_id} ${spec.timeline_id} ${at} --gzip`);
  assert.equal(ps.calls[0].password, token);
  const [{ n }] = await agent.query<{ n: number }>("SELECT count(*)::int AS n FROM t");
  assert.equal(n, 100, "the pageserver's data");
  const [{ tenant }] = await agent.query<{ tenant: string }>(
    "SELECT current_setting('neon.tenant_id') AS tenant",
  );
  assert.equal(tenant, spec.tenant_id);
  const [db] = await agent.query<{ owner: string }>(
    "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'neondb'",
  );
  assert.equal(db?.owner, "neon_app");
  const res = await agent.post("/terminate");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { lsn: finalLsn });
  assert.equal(sync.runs().at(-1)?.token, token, "sync-safekeepers got the storage token");
});

test("config.json: the compute runs and its API wants a JWT from the configured keys", async (t) => {
  const config = example("config.json");
  const agent = await startAgent({ config, name: "example-config" });
  t.after(() => agent.stop());
  const ready = await eventually("ready", 60_000, async () =>
    (await agent.get("/ready")).status === 200 ? true : null,
  );
  assert.ok(ready);
  assert.equal((await agent.get("/status")).status, 400, "no token");
  const other = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  const foreign = await new SignJWT({ compute_id: "x" })
    .setProtectedHeader({ alg: "EdDSA" })
    .setExpirationTime("1h")
    .sign(other.privateKey);
  assert.equal((await agent.get("/status", { headers: { authorization: `Bearer ${foreign}` } })).status, 401);
  assert.equal((await agent.get("/healthz")).status, 200, "probes stay open");
  const [{ owner }] = await agent.query<{ owner: string }>(
    "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'appdb'",
  );
  assert.equal(owner, "app");
  const [ext] = await agent.query("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'");
  assert.ok(ext, "pg_stat_statements preloaded and created");
});
