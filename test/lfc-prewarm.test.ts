// Cache prewarm and offload on vanilla Postgres through the real agent: shared_buffers captured
// with pg_buffercache, kept in endpoint storage, loaded back with pg_prewarm. The acceptance
// case runs two replica computes of one endpoint against bin/endpoint-storage (JWT mode); the
// failure cases run one primary compute against an in-test storage whose answers the test
// controls (held, 404, corrupt, down).
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { zstdCompress } from "../src/zstd/zstd-codec.js";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { type RunningStorage, startStorage } from "./support/endpoint-storage.js";
import { freePort } from "./support/ports.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

const TENANT = "b0554b632bd4d547a63b86c3630317e8";
const TIMELINE = "2414a61ffc94e428f14b5758fe308e13";
const CONF = "listen_addresses = '127.0.0.1'\nfsync = off\nshared_buffers = 128MB\nmax_connections = 100";

type Json = Record<string, unknown>;

async function waitUntil<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
}

async function lfc(agent: RunningAgent, op: "prewarm" | "offload"): Promise<Json> {
  return (await (await agent.get(`/lfc/${op}`)).json()) as Json;
}

/** Waits for the operation to leave its running status and returns the final state. */
function settled(agent: RunningAgent, op: "prewarm" | "offload", ms = 60_000): Promise<Json> {
  const running = op === "prewarm" ? "prewarming" : "offloading";
  return waitUntil(
    `${op} to finish`,
    async () => {
      const s = await lfc(agent, op);
      return s.status !== running && s.status !== `not_${op}ed` ? s : undefined;
    },
    ms,
  );
}

async function metric(agent: RunningAgent, name: string): Promise<number> {
  const text = await (await agent.get("/metrics")).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** Share of `table`'s main-fork pages that sit in shared_buffers. */
async function residentShare(
  agent: RunningAgent,
  table: string,
): Promise<{ resident: number; pages: number }> {
  const [row] = await agent.query<{ resident: number; pages: number }>(
    `SELECT (SELECT count(*) FROM pg_buffercache b
              WHERE b.relfilenode = pg_relation_filenode($1::regclass) AND b.relforknumber = 0
                AND b.reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database()))::int AS resident,
            (pg_relation_size($1::regclass) / current_setting('block_size')::int)::int AS pages`,
    [table],
  );
  return row;
}

describe("acceptance: a new compute of the endpoint starts warm (replicas of a vanilla primary)", () => {
  let primary: TestPostgres;
  let storage: RunningStorage;
  let token: string;
  const agents: RunningAgent[] = [];

  before(async () => {
    primary = await startTestPostgres({
      settings: { wal_level: "replica", max_wal_senders: "10" },
      hba: ["host replication all 127.0.0.1/32 trust"],
    });
    // The contrib extensions come from the primary: a standby cannot create them.
    await primary.query("CREATE EXTENSION pg_buffercache");
    await primary.query("CREATE EXTENSION pg_prewarm");
    await primary.query(
      "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 6) AS pad FROM generate_series(1, 80000) g",
    );
    await primary.query("CHECKPOINT");
    const { publicKey, privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    storage = await startStorage({ publicKeyPem: await exportSPKI(publicKey) });
    token = await new SignJWT({ tenant_id: TENANT, timeline_id: TIMELINE, endpoint_id: "ep-warm" })
      .setProtectedHeader({ alg: "EdDSA" })
      .setExpirationTime("1h")
      .sign(privateKey);
  });
  after(async () => {
    for (const a of agents) await a.stop();
    await storage?.stop();
    await primary?.stop();
  });

  const spec = (extra: Json) =>
    minimalSpec({
      mode: "Replica",
      source: { kind: "primary", connstring: primary.tcpConnstr() },
      tenant_id: TENANT,
      timeline_id: TIMELINE,
      endpoint_id: "ep-warm",
      endpoint_storage_addr: storage.addr,
      endpoint_storage_token: token,
      cluster: { roles: [], databases: [], postgresql_conf: CONF, settings: [] },
      ...extra,
    });

  test("offload from a warm compute, autoprewarm the next: >= 90% of the table resident before any query", async () => {
    // Compute A: periodic offload every second; the table is read once.
    const a = await startAgent({ spec: spec({ offload_lfc_interval_seconds: 1 }), name: "lfc-a" });
    agents.push(a);
    await a.waitForStatus("running", 60_000);
    await waitUntil("a periodic offload", async () =>
      (await metric(a, "compute_ctl_lfc_offloads_total")) >= 1 ? true : undefined,
    );
    const cold = await residentShare(a, "big");
    assert.ok(
      cold.resident < cold.pages * 0.1,
      `a fresh compute's cache does not hold the table (${cold.resident}/${cold.pages})`,
    );
    await a.query("SELECT count(*) FROM big");
    const warm = await residentShare(a, "big");
    assert.ok(
      warm.resident >= warm.pages * 0.95,
      `the scan filled the cache (${warm.resident}/${warm.pages})`,
    );
    // An explicit offload after the scan (the periodic one may be running: then 429, wait, retry).
    await waitUntil("POST /lfc/offload accepted", async () =>
      (await a.post("/lfc/offload")).status === 202 ? true : undefined,
    );
    const off = await settled(a, "offload");
    assert.equal(off.status, "completed", JSON.stringify(off));
    for (const k of ["state_query_time_ms", "compress_time_ms", "state_upload_time_ms"])
      assert.equal(typeof off[k], "number", k);
    assert.equal(((await a.get("/lfc/prewarm").then((r) => r.json())) as Json).status, "not_prewarmed");
    await a.stop();
    agents.pop();

    // Compute B of the same endpoint: autoprewarm; no query touches the table before the check.
    const b = await startAgent({ spec: spec({ autoprewarm: true }), name: "lfc-b" });
    agents.push(b);
    await b.waitForStatus("running", 60_000);
    const done = await settled(b, "prewarm");
    assert.equal(done.status, "completed", JSON.stringify(done));
    assert.ok((done.prewarmed as number) >= warm.pages, JSON.stringify(done));
    assert.equal(done.total, (done.prewarmed as number) + (done.skipped as number));
    const after = await residentShare(b, "big");
    assert.ok(
      after.resident >= after.pages * 0.9,
      `prewarmed: ${after.resident}/${after.pages} pages resident`,
    );
    assert.equal(await metric(b, "compute_ctl_lfc_prewarms_total"), 1);
    assert.equal(await metric(b, "compute_ctl_lfc_prewarm_errors_total"), 0);
    const log = b.logEntries().find((e) => e.msg === "prewarm completed");
    assert.ok(log, "the prewarm's end is logged");
    assert.ok(
      !b.logs().includes(token) && !storage.logs().includes(token),
      "the storage token is never logged",
    );
  });
});

/** Endpoint storage whose answers the test picks: it keeps what is PUT and records every request. */
class ScriptedStorage {
  server!: http.Server;
  port = 0;
  stored: Buffer | null = null;
  requests: { method: string; url: string; auth: string | undefined }[] = [];
  mode: "serve" | "hold" | "404" | "corrupt" | "garbage-json" = "serve";
  #held: http.ServerResponse[] = [];

  async start(port?: number): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => void this.#answer(req, res, Buffer.concat(chunks)));
    });
    await new Promise<void>((r) => this.server.listen(port ?? 0, "127.0.0.1", () => r()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async #answer(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    this.requests.push({ method: req.method ?? "", url: req.url ?? "", auth: req.headers.authorization });
    if (req.method === "PUT") {
      this.stored = body;
      res.end();
      return;
    }
    if (this.mode === "hold") {
      this.#held.push(res);
      return;
    }
    if (this.mode === "404" || !this.stored) {
      res.writeHead(404).end("no such key");
      return;
    }
    if (this.mode === "corrupt") {
      res.end(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0x61, 0x62, 0x63]));
      return;
    }
    if (this.mode === "garbage-json") {
      res.end(await zstdCompress(Buffer.from('{"format":"compute-ctl.shared-buffers","version":7}')));
      return;
    }
    res.end(this.stored);
  }

  release(): void {
    for (const r of this.#held.splice(0)) r.destroy();
  }

  async stop(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe("prewarm and offload failures on a primary compute (scripted endpoint storage)", () => {
  const scripted = new ScriptedStorage();
  let agent: RunningAgent;

  before(async () => {
    await scripted.start(await freePort());
    agent = await startAgent({
      name: "lfc-failures",
      spec: minimalSpec({
        tenant_id: TENANT,
        timeline_id: TIMELINE,
        endpoint_id: "ep-main",
        endpoint_storage_addr: `127.0.0.1:${scripted.port}`,
        endpoint_storage_token: "scripted-storage-token",
        cluster: { roles: [], databases: [], postgresql_conf: CONF, settings: [] },
      }),
    });
    await agent.waitForStatus("running", 60_000);
    await agent.query("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g");
    await agent.query("SELECT count(*) FROM t");
  });
  after(async () => {
    await agent?.stop();
    await scripted.stop();
  });

  const status = async () => (await agent.status()).status;

  test("offload sends the zstd state with the bearer token; before any, prewarm is skipped (404)", async () => {
    scripted.mode = "404";
    assert.equal((await agent.post("/lfc/prewarm")).status, 202);
    assert.deepEqual(await settled(agent, "prewarm"), { status: "skipped" });
    assert.equal((await agent.post("/lfc/offload")).status, 202);
    assert.equal((await settled(agent, "offload")).status, "completed");
    const put = scripted.requests.find((r) => r.method === "PUT");
    assert.equal(put?.url, `/${TENANT}/${TIMELINE}/ep-main/lfc_state`);
    assert.equal(put?.auth, "Bearer scripted-storage-token");
    assert.deepEqual(
      [...(scripted.stored ?? Buffer.alloc(0)).subarray(0, 4)],
      [0x28, 0xb5, 0x2f, 0xfd],
      "zstd magic",
    );
  });

  test("a second prewarm while one runs is 429; DELETE cancels it; /promote is refused meanwhile", async () => {
    scripted.mode = "hold";
    assert.equal((await agent.post("/lfc/prewarm")).status, 202);
    await waitUntil("the state download to start", async () =>
      scripted.requests.some((r) => r.method === "GET" && r.url.endsWith("/ep-main/lfc_state"))
        ? true
        : undefined,
    );
    const again = await agent.post("/lfc/prewarm");
    assert.equal(again.status, 429);
    assert.deepEqual(await again.json(), { error: "Multiple requests for prewarm are not allowed" });
    assert.equal((await lfc(agent, "prewarm")).status, "prewarming");
    const promote = await agent.post("/promote", { spec: minimalSpec(), wal_flush_lsn: "0/0" });
    // As Neon: a promotion that cannot run is 500 {"status": "failed", "error"}.
    assert.equal(promote.status, 500);
    const refused = (await promote.json()) as Json;
    assert.equal(refused.status, "failed");
    assert.match(refused.error as string, /Prewarming/);
    const del = await fetch(`${agent.url}/lfc/prewarm`, { method: "DELETE" });
    assert.equal(del.status, 202);
    assert.deepEqual(await settled(agent, "prewarm"), { status: "cancelled" });
    scripted.release();
    assert.equal(await status(), "running");
  });

  test("from_endpoint reads another endpoint's state and loads it; a bad one is 400", async () => {
    scripted.mode = "serve";
    scripted.requests.length = 0;
    assert.equal((await agent.post("/lfc/prewarm?from_endpoint=ep-primary")).status, 202);
    const done = await settled(agent, "prewarm");
    assert.equal(done.status, "completed", JSON.stringify(done));
    assert.ok((done.prewarmed as number) > 0);
    assert.equal(scripted.requests.at(-1)?.url, `/${TENANT}/${TIMELINE}/ep-primary/lfc_state`);
    const bad = await agent.post("/lfc/prewarm?from_endpoint=..%2Fx");
    assert.equal(bad.status, 400);
  });

  test("a corrupt state, a malformed one and an unreachable storage fail the prewarm, never the compute", async () => {
    const errorsBefore = await metric(agent, "compute_ctl_lfc_prewarm_errors_total");
    scripted.mode = "corrupt";
    assert.equal((await agent.post("/lfc/prewarm")).status, 202);
    const corrupt = await settled(agent, "prewarm");
    assert.equal(corrupt.status, "failed");
    assert.match(corrupt.error as string, /decoding LFC state/);

    scripted.mode = "garbage-json";
    assert.equal((await agent.post("/lfc/prewarm")).status, 202);
    const malformed = await settled(agent, "prewarm");
    assert.equal(malformed.status, "failed");
    assert.match(malformed.error as string, /malformed/);

    await scripted.stop();
    try {
      assert.equal((await agent.post("/lfc/prewarm")).status, 202);
      const down = await settled(agent, "prewarm");
      assert.equal(down.status, "failed");
      assert.match(down.error as string, /ECONNREFUSED/);
      assert.equal((await agent.post("/lfc/offload")).status, 202);
      const off = await settled(agent, "offload");
      assert.equal(off.status, "failed");
      assert.equal(await metric(agent, "compute_ctl_lfc_offload_errors_total"), 1);
    } finally {
      await scripted.start(scripted.port);
    }
    assert.equal(await metric(agent, "compute_ctl_lfc_prewarm_errors_total"), errorsBefore + 3);
    assert.equal(await status(), "running");
    const [{ n }] = await agent.query<{ n: number }>("SELECT count(*)::int AS n FROM t");
    assert.equal(n, 20000);
  });
});
