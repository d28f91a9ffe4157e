// Conformance with Neon's compute_ctl API, driven by docs/neon-compatibility.md: every row of the
// route and auth tables is a Neon-shaped request sent to a real agent, whose status code, content
// type and body shape must be what the compute-ctl column says; a row marked "same" must say the
// same as the Neon column, so a difference exists only where the document says so. The metric
// table is checked against /metrics. Three agents: one with JWT keys through its life (empty,
// running, terminated), one launched with an empty key set, one without keys.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { COMPUTE_ID, type TokenKit, tokenKit } from "./support/grpc-tokens.js";
import { compatTable, type Expectation, parseExpectation } from "./support/neon-contract.js";

type Phase = "empty" | "running" | "terminated" | "empty-key-set" | "no-jwks";

interface Case {
  phase: Phase;
  send(): Promise<Response>;
  /** Checks beyond status, content type and shape. */
  also?(body: unknown, res: Response): void | Promise<void>;
}

const ROUTES = compatTable("Routes: status codes and bodies");
const AUTH = compatTable("Auth");
const ROWS = [...ROUTES, ...AUTH];

let kit: TokenKit;
let keyed: RunningAgent;
let emptyKeySet: RunningAgent;
let noJwks: RunningAgent;
let token: string;

const soon = () => Math.floor(Date.now() / 1000) + 600;
const sign = (claims: Record<string, unknown>, key = kit.ed) => kit.sign(key, { exp: soon(), ...claims });
const JSON_TYPE = { "content-type": "application/json" };

const APP_PASSWORD = "app-password-1";
const spec = () =>
  minimalSpec({
    cluster: {
      ...(minimalSpec().cluster as object),
      roles: [
        {
          name: "app",
          encrypted_password: createHash("md5").update(`${APP_PASSWORD}app`).digest("hex"),
          options: null,
        },
      ],
    },
  });

/** Headers are built at send time (the token exists only once the keys do). */
type Headers = () => Record<string, string>;
const authed =
  (extra: Record<string, string> = {}): Headers =>
  () => ({ authorization: `Bearer ${token}`, ...extra });
const plain =
  (h: Record<string, string> = {}): Headers =>
  () =>
    h;
const JSON_AUTHED = authed(JSON_TYPE);

function on(agent: () => RunningAgent, method: string, route: string, headers: Headers, body?: string) {
  return () => {
    const internal = route.startsWith("internal:");
    const base = internal ? agent().internalUrl : agent().url;
    return fetch(`${base}${route.replace(/^internal:/, "")}`, { method, headers: headers(), body });
  };
}
const k = () => keyed;
const post = (route: string, body: unknown, headers: Headers = JSON_AUTHED) =>
  on(k, "POST", route, headers, typeof body === "string" ? body : JSON.stringify(body));
const get = (route: string, headers: Headers = authed()) => on(k, "GET", route, headers);
const bearer = (claims: Record<string, unknown>, key?: () => TokenKit["ed"]) => async () =>
  fetch(`${keyed.url}/status`, { headers: { authorization: `Bearer ${await sign(claims, key?.())}` } });

const CASES: Record<string, Case> = {
  "insights-empty": { phase: "empty", send: get("/insights") },
  "check-writability-empty": { phase: "empty", send: post("/check_writability", "", authed()) },
  "configure-no-content-type": { phase: "empty", send: post("/configure", { spec: spec() }, authed()) },
  "configure-text-plain": {
    phase: "empty",
    send: post("/configure", { spec: spec() }, authed({ "content-type": "text/plain" })),
  },
  "configure-malformed": { phase: "empty", send: post("/configure", '{"spec":') },
  "configure-empty-body": { phase: "empty", send: post("/configure", "") },
  "configure-missing-spec": { phase: "empty", send: post("/configure", {}) },
  "configure-bad-audit": {
    phase: "empty",
    send: post("/configure", { spec: minimalSpec({ audit_log_level: "Bogus" }), compute_ctl_config: {} }),
    also: (b) => assert.match((b as { error: string }).error, /audit_log_level/),
  },
  "configure-bad-tenant": {
    phase: "empty",
    send: post("/configure", { spec: minimalSpec({ tenant_id: "not-hex" }), compute_ctl_config: {} }),
    also: (b) => assert.match((b as { error: string }).error, /tenant_id/),
  },
  "configure-duplicate-safekeepers": {
    phase: "empty",
    send: post("/configure", {
      spec: minimalSpec({
        tenant_id: "b0554b632bd4d547a63b86c3630317e8",
        timeline_id: "2414a61ffc94e428f14b5758fe308e13",
        pageserver_connstring: "postgres://no_user@127.0.0.1:1",
        safekeeper_connstrings: ["127.0.0.1:2", "127.0.0.1:2"],
      }),
      compute_ctl_config: {},
    }),
    also: (b) => assert.match((b as { error: string }).error, /duplicate entry in safekeeper_connstrings/),
  },
  "configure-start": {
    phase: "empty",
    // As a Neon control plane sends it (the keys in it are ignored: they are read at launch).
    send: post("/configure", { spec: spec(), compute_ctl_config: { jwks: { keys: [] } } }),
    also: (b) => {
      assert.equal((b as { status: string }).status, "running");
      const moves = keyed
        .logEntries()
        .filter((e) => typeof e.to === "string")
        .map((e) => e.to);
      assert.deepEqual(moves.slice(0, 3), ["configuration_pending", "init", "running"]);
    },
  },
  "configure-no-compute-ctl-config": { phase: "running", send: post("/configure", { spec: spec() }) },
  status: {
    phase: "running",
    send: async () => {
      // Some client activity first, so last_active is set.
      const c = new pg.Client({
        host: "127.0.0.1",
        port: keyed.pgPort,
        user: "app",
        password: APP_PASSWORD,
        database: "postgres",
      });
      await c.connect();
      try {
        await c.query("SELECT 1");
        // The idle session's last state change is activity once the monitor has seen it.
        const end = Date.now() + 20_000;
        for (;;) {
          const res = await get("/status")();
          if (
            ((await res.clone().json()) as { last_active: string | null }).last_active !== null ||
            Date.now() > end
          )
            return res;
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        await c.end();
      }
    },
    also: (b) => {
      const s = b as { start_time: string; last_active: string };
      assert.match(s.last_active, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/);
      assert.match(s.start_time, /Z$/);
    },
  },
  "metrics-json": { phase: "running", send: get("/metrics.json") },
  metrics: { phase: "running", send: get("/metrics", plain()) },
  insights: {
    phase: "running",
    send: get("/insights"),
    also: (b) => assert.ok(Array.isArray(JSON.parse(b as string).pg_stat_statements)),
  },
  "check-writability": { phase: "running", send: post("/check_writability", "", authed()) },
  "dbs-and-roles": {
    phase: "running",
    send: get("/dbs_and_roles"),
    also: (b) => {
      const roles = (b as { roles: Record<string, unknown>[] }).roles;
      assert.ok(roles.some((r) => r.name === "app"));
      for (const r of roles) assert.ok(!("encrypted_password" in r), `no password of ${r.name}`);
    },
  },
  "database-schema": { phase: "running", send: get("/database_schema?database=postgres") },
  "database-schema-missing-db": { phase: "running", send: get("/database_schema?database=nope") },
  "database-schema-no-param": { phase: "running", send: get("/database_schema") },
  grants: {
    phase: "running",
    send: post(
      "internal:/grants",
      { database: "postgres", schema: "public", privileges: ["USAGE"], role: "app" },
      plain(JSON_TYPE),
    ),
  },
  "grants-bad-privilege": {
    phase: "running",
    send: post(
      "internal:/grants",
      { database: "postgres", schema: "public", privileges: ["DROP"], role: "app" },
      plain(JSON_TYPE),
    ),
  },
  "grants-missing-database": {
    phase: "running",
    send: post(
      "internal:/grants",
      { database: "nope", schema: "public", privileges: ["USAGE"], role: "app" },
      plain(JSON_TYPE),
    ),
  },
  extensions: {
    phase: "running",
    send: post(
      "internal:/extensions",
      { extension: "pg_trgm", database: "postgres", version: "1.6" },
      plain(JSON_TYPE),
    ),
  },
  "extensions-bad-body": {
    phase: "running",
    send: post("internal:/extensions", { extension: 1 }, plain(JSON_TYPE)),
  },
  "promote-not-replica": {
    phase: "running",
    send: post("/promote", { spec: spec(), wal_flush_lsn: "0/0" }),
    also: (b) => assert.equal((b as { status: string }).status, "failed"),
  },
  "promote-no-content-type": { phase: "running", send: post("/promote", { spec: spec() }, authed()) },
  "promote-bad-spec": { phase: "running", send: post("/promote", { spec: { cluster: 1 } }) },
  "unknown-path": { phase: "running", send: get("/nope") },
  "wrong-method": { phase: "running", send: on(k, "DELETE", "/status", authed()) },
  "auth-ok": { phase: "running", send: get("/status") },
  "auth-no-header": { phase: "running", send: get("/status", plain()) },
  "auth-bad-token": { phase: "running", send: bearer({ compute_id: COMPUTE_ID }, () => kit.stranger) },
  "auth-other-compute": { phase: "running", send: bearer({ compute_id: "another-compute" }) },
  "auth-unknown-scope": {
    phase: "running",
    send: bearer({ scope: "compute_ctl:superuser", compute_id: COMPUTE_ID }),
  },
  "auth-admin-no-audience": { phase: "running", send: bearer({ scope: "compute_ctl:admin" }) },
  "auth-admin": { phase: "running", send: bearer({ scope: "compute_ctl:admin", aud: ["compute"] }) },
  "auth-metrics-open": { phase: "running", send: get("/metrics", plain()) },
  "terminate-bogus-mode": { phase: "running", send: post("/terminate?mode=bogus", "", authed()) },
  terminate: { phase: "terminated", send: post("/terminate?mode=fast", "", authed()) },
  "terminate-again": { phase: "terminated", send: post("/terminate", "", authed()) },
  "configure-terminated": {
    phase: "terminated",
    send: post("/configure", { spec: spec(), compute_ctl_config: {} }),
  },
  "auth-empty-key-set": {
    phase: "empty-key-set",
    send: async () =>
      fetch(`${emptyKeySet.url}/status`, {
        headers: { authorization: `Bearer ${await sign({ compute_id: COMPUTE_ID })}` },
      }),
  },
  "auth-no-jwks": { phase: "no-jwks", send: () => fetch(`${noJwks.url}/status`) },
};

async function check(name: string, expected: Expectation, c: Case): Promise<void> {
  const res = await c.send();
  const text = await res.text();
  const what = `${name}: ${res.status} ${res.headers.get("content-type")} ${text.slice(0, 300)}`;
  assert.equal(res.status, expected.status, what);
  const type = res.headers.get("content-type");
  if (expected.contentType === "none") assert.equal(type, null, what);
  else
    assert.match(type ?? "", expected.contentType === "json" ? /^application\/json/ : /^text\/plain/, what);
  let body: unknown = text;
  const shape = expected.shape;
  if (shape === "empty") assert.equal(text, "", what);
  else if (shape === "sql") assert.match(text, /PostgreSQL database dump/, what);
  else if (shape === "prometheus") assert.match(text, /^# TYPE compute_ctl_up gauge$/m, what);
  else if (shape === "message") assert.ok(text.length > 0, what);
  else {
    body = JSON.parse(text);
    if (shape === "string") assert.equal(typeof body, "string", what);
    else if (shape === "true") assert.equal(body, true, what);
    else {
      const keys = /^\{([\w,]+)\}$/.exec(shape)?.[1].split(",");
      assert.ok(keys, `unknown shape ${shape}`);
      assert.ok(body && typeof body === "object" && !Array.isArray(body), what);
      for (const key of keys) assert.ok(key in (body as object), `${what}: key ${key}`);
    }
  }
  await c.also?.(body, res);
}

describe("the compatibility document", () => {
  test("every row reads, says the same as Neon where it claims to, and is exercised by a case here", () => {
    for (const row of ROWS) {
      const [neon, ours] = [row.cells.at(-3) as string, row.cells.at(-2) as string];
      parseExpectation(neon);
      parseExpectation(ours);
      if (row.verdict === "same") assert.equal(ours, neon, `${row.key}: "same" must read the same`);
      else assert.notEqual(ours, neon, `${row.key}: a difference must show`);
    }
    assert.deepEqual(ROWS.map((r) => r.key).sort(), Object.keys(CASES).sort());
  });
});

describe("a real agent answers as the document says", () => {
  before(async () => {
    kit = await tokenKit();
    token = await sign({ compute_id: COMPUTE_ID });
    [keyed, emptyKeySet, noJwks] = await Promise.all([
      startAgent({
        name: "conformance",
        config: { spec: null, compute_ctl_config: { jwks: kit.jwks } },
        args: ["-i", COMPUTE_ID],
        graceS: 30,
      }),
      startAgent({
        name: "conformance-empty-keys",
        config: { spec: null, compute_ctl_config: { jwks: { keys: [] } } },
        args: ["-i", COMPUTE_ID],
      }),
      startAgent({ name: "conformance-no-jwks", args: ["-i", COMPUTE_ID] }),
    ]);
  });
  after(() => Promise.all([keyed, emptyKeySet, noJwks].map((a) => a?.stop())));

  for (const phase of ["empty", "running", "terminated", "empty-key-set", "no-jwks"] as Phase[]) {
    test(`${phase}: the rows of this state`, async () => {
      for (const row of ROWS) {
        const c = CASES[row.key];
        if (c?.phase !== phase) continue;
        await check(row.key, parseExpectation(row.cells.at(-2) as string), c);
      }
    });
  }

  test("metrics: Neon's families are exported unless the document says not applicable", async () => {
    // After termination the API is still up for the grace period.
    const text = await (await fetch(`${keyed.url}/metrics`)).text();
    for (const row of compatTable("Metrics")) {
      const exported = new RegExp(`^# TYPE ${row.key} `, "m").test(text);
      assert.equal(exported, row.verdict !== "n/a", `${row.key} (${row.verdict})`);
    }
  });
});
