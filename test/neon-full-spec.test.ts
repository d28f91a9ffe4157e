// A Neon-shaped spec with every field of spec.rs set, against a real agent, real Postgres with
// pgaudit, Debian's pgbouncer and a local_proxy stand-in: each field is applied (checked where it
// acts) or listed in /status and the Status RPC as ignored, exactly as docs/neon-compatibility.md
// says; a reconfiguration applies the sidecar settings again; termination stops the sidecars as
// Neon does. One agent for the whole file.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { type RunningAgent, startAgent } from "./support/agent.js";
import { connectClient } from "./support/grpc-harness.js";
import { EXPECTED_IGNORED, everyFieldSpec } from "./support/neon-contract.js";
import {
  type LocalProxyStandIn,
  startLocalProxyStandIn,
  startPgbouncer,
  type TestPgbouncer,
} from "./support/sidecars.js";

async function until<T>(what: string, fn: () => Promise<T | null>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const JWT_ROLE = "jwt user";

function fullSpec(over: Record<string, unknown> = {}): Record<string, unknown> {
  const spec = everyFieldSpec();
  const cluster = spec.cluster as Record<string, unknown>;
  cluster.cluster_id = "cluster-1";
  cluster.name = "every field";
  cluster.state = "restarted";
  cluster.roles = [
    {
      name: "app",
      encrypted_password: null,
      options: [{ name: "CONNECTION LIMIT", value: "20", vartype: "integer" }],
    },
    { name: JWT_ROLE, encrypted_password: null, options: null },
  ];
  cluster.databases = [{ name: "appdb", owner: "app", options: null }];
  cluster.settings = [{ name: "work_mem", value: "8MB", vartype: "string" }];
  return {
    ...spec,
    pgbouncer_settings: { default_pool_size: "42", pool_mode: "session" },
    local_proxy_config: {
      jwks: [
        { id: "p1", role_names: [JWT_ROLE], jwks_url: "https://idp.example/jwks", provider_name: "idp" },
      ],
    },
    ...over,
  };
}

let agent: RunningAgent;
let pgb: TestPgbouncer;
let proxy: LocalProxyStandIn;

before(async () => {
  proxy = await startLocalProxyStandIn();
  // pgbouncer pools to the agent's Postgres (its port is only known later; pooling is not tested).
  pgb = await startPgbouncer(1);
  agent = await startAgent({
    name: "neon-full-spec",
    spec: fullSpec(),
    env: { PGBOUNCER_PASSWORD: pgb.password },
    args: [
      "--pgbouncer-admin",
      pgb.adminUrl,
      "--pgbouncer-ini",
      pgb.ini,
      "--pgbouncer-pid-file",
      pgb.pidFile,
      "--local-proxy-dir",
      proxy.dir,
      "--installed-extensions-collection-interval",
      "1",
    ],
  });
  await agent.waitForStatus("running", 60_000);
});

after(async () => {
  await agent?.stop();
  await pgb?.stop();
  proxy?.stop();
});

describe("every field of spec.rs set", () => {
  test("activity_monitor_experimental sees a short-lived session, not the agent's own", async () => {
    // First in the file: nothing but the agent has connected to appdb yet. Collections every
    // second open sessions to appdb: they must not count.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal((await agent.status()).last_active, null, "the agent's sessions are no activity");
    const c = new pg.Client({ host: "127.0.0.1", port: agent.pgPort, user: "postgres", database: "appdb" });
    await c.connect();
    await c.end();
    const at = await until("last_active", async () => (await agent.status()).last_active);
    assert.match(at, /\+00:00$/);
  });

  test("the fields without effect here are in /status and the Status RPC, with reasons", async () => {
    const status = (await agent.status()) as unknown as {
      ignored: { field: string; reason: string }[];
      tenant: string;
    };
    assert.deepEqual(status.ignored.map((i) => i.field).sort(), [...EXPECTED_IGNORED].sort());
    assert.equal(status.tenant, "b0554b632bd4d547a63b86c3630317e8");
    const grpc = connectClient("connect", { socketPath: agent.grpcSocket });
    // gRPC comes up once the start is over.
    const { state } = await until("the Status RPC", () => grpc.status({}));
    assert.deepEqual(
      state?.ignored.map((i) => ({ field: i.field, reason: i.reason })),
      status.ignored,
    );
    // Logged once each.
    const lines = agent
      .logEntries()
      .filter((e) => typeof e.msg === "string" && e.msg.startsWith("spec field "));
    assert.deepEqual(lines.map((e) => e.field).sort(), [...EXPECTED_IGNORED].sort());
  });

  test("roles, databases, settings are applied; local_proxy's JWT role is not a privileged member", async () => {
    const roles = await agent.query<{ rolname: string; member: boolean; rolconnlimit: number }>(
      `SELECT rolname, pg_has_role(oid, 'neon_superuser', 'MEMBER') AS member, rolconnlimit
         FROM pg_roles WHERE rolname IN ('app', $1) ORDER BY 1`,
      [JWT_ROLE],
    );
    assert.deepEqual(roles, [
      { rolname: "app", member: true, rolconnlimit: 20 },
      { rolname: JWT_ROLE, member: false, rolconnlimit: -1 },
    ]);
    const [db] = await agent.query<{ owner: string }>(
      "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'appdb'",
    );
    assert.equal(db.owner, "app");
    assert.deepEqual(await agent.query("SHOW work_mem"), [{ work_mem: "8MB" }]);
  });

  test("audit_log_level Full: pgaudit logs everything with parameters into <pgdata>/log, measured by the metric", async () => {
    assert.deepEqual(await agent.query("SHOW pgaudit.log", [], "appdb"), [{ "pgaudit.log": "all" }]);
    assert.deepEqual(await agent.query("SHOW pgaudit.log_parameter", [], "appdb"), [
      { "pgaudit.log_parameter": "on" },
    ]);
    // The agent's own database is left out, as Neon leaves it out.
    assert.deepEqual(await agent.query("SHOW pgaudit.log"), [{ "pgaudit.log": "none" }]);
    const exts = await agent.query<{ extname: string }>(
      "SELECT extname FROM pg_extension WHERE extname LIKE 'pgaudit%' ORDER BY 1",
    );
    assert.deepEqual(
      exts.map((e) => e.extname),
      ["pgaudit", "pgauditlogtofile"],
    );
    await agent.query("CREATE TABLE audited (id int); INSERT INTO audited VALUES (42)", [], "appdb");
    const logDir = path.join(agent.pgdata, "log");
    const audit = await until("the audit file with the statement", async () => {
      const files = existsSync(logDir) ? readdirSync(logDir).filter((f) => /^audit.*\.log$/.test(f)) : [];
      const text = files.map((f) => readFileSync(path.join(logDir, f), "utf8")).join("");
      return text.includes("CREATE TABLE audited") ? text : null;
    });
    assert.match(audit, /WRITE,INSERT/);
    // The agent's own statements are not audited (its sessions set pgaudit.log=none).
    assert.doesNotMatch(audit, /compute_ctl:apply_config/);
    const size = await until("compute_audit_log_dir_size > 0", async () => {
      const m = /^compute_audit_log_dir_size (\d+)/m.exec(await (await agent.get("/metrics")).text());
      return m && Number(m[1]) > 0 ? Number(m[1]) : null;
    });
    assert.ok(size >= Buffer.byteLength(audit) - 4096, `${size} bytes measured`);
  });

  test("pgbouncer_settings are SET through the admin console and persisted into pgbouncer.ini", async () => {
    const config = await until("pgbouncer's settings", async () => {
      const c = await pgb.config();
      return c.default_pool_size === "42" && c.pool_mode === "session" ? c : null;
    });
    assert.equal(config.listen_port, String(pgb.port));
    const ini = readFileSync(pgb.ini, "utf8");
    assert.match(ini, /^default_pool_size = 42$/m);
    assert.match(ini, /^pool_mode = session$/m);
    assert.match(ini, /^;; the compute's pooler$/m, "the rest of the file is kept");
    assert.doesNotMatch(ini, /default_pool_size = 5/);
  });

  test("local_proxy_config is written where local_proxy reads it, and local_proxy gets SIGHUP", async () => {
    const file = path.join(proxy.dir, "config.json");
    await until("config.json", async () => (existsSync(file) ? true : null));
    assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), {
      jwks: [
        {
          id: "p1",
          role_names: [JWT_ROLE],
          jwks_url: "https://idp.example/jwks",
          provider_name: "idp",
          jwt_audience: null,
        },
      ],
    });
    await until("SIGHUP", async () => (proxy.signals().includes("HUP") ? true : null));
  });

  test("compute_installed_extensions follows the collection interval", async () => {
    const series = async () => (await (await agent.get("/metrics")).text()).split("\n");
    assert.ok(
      (await series()).includes(
        'compute_installed_extensions{extension_name="pgaudit",version="1.7",owned_by_superuser="1"} 1',
      ),
    );
    await agent.query("CREATE EXTENSION pg_trgm", [], "appdb");
    await until("pg_trgm in the metric", async () =>
      (await series()).some((l) => l.startsWith('compute_installed_extensions{extension_name="pg_trgm"'))
        ? true
        : null,
    );
    await agent.query("DROP EXTENSION pg_trgm", [], "appdb");
    await until("pg_trgm gone from the metric", async () =>
      (await series()).some((l) => l.includes('"pg_trgm"')) ? null : true,
    );
  });

  test("no secret reaches the log", () => {
    const logs = agent.logs();
    for (const secret of [pgb.password, "storage-secret-token", "endpoint-storage-secret"])
      assert.ok(!logs.includes(secret), `${secret} not logged`);
  });
});

describe("a reconfiguration", () => {
  test("applies pgbouncer and local_proxy again and a lower audit level", async () => {
    const hups = proxy.signals().filter((s) => s === "HUP").length;
    const res = await agent.post("/configure", {
      spec: fullSpec({ audit_log_level: "Base", pgbouncer_settings: { default_pool_size: "7" } }),
      compute_ctl_config: {},
    });
    assert.equal(res.status, 200, await res.clone().text());
    await until("default_pool_size 7", async () =>
      (await pgb.config()).default_pool_size === "7" ? true : null,
    );
    assert.match(readFileSync(pgb.ini, "utf8"), /^default_pool_size = 7$/m);
    await until("another SIGHUP", async () =>
      proxy.signals().filter((s) => s === "HUP").length > hups ? true : null,
    );
    // Base: DDL and role changes only (a reload; the libraries stay as loaded until a restart,
    // so pgauditlogtofile still takes the lines: Postgres's own log gets them from the next start).
    assert.deepEqual(await agent.query("SHOW pgaudit.log", [], "appdb"), [{ "pgaudit.log": "ddl,role" }]);
    assert.deepEqual(await agent.query("SHOW pgaudit.log_parameter", [], "appdb"), [
      { "pgaudit.log_parameter": "off" },
    ]);
    await agent.query("CREATE TABLE base_audited (id int); INSERT INTO base_audited VALUES (1)", [], "appdb");
    const logDir = path.join(agent.pgdata, "log");
    const audit = await until("the DDL audited", async () => {
      const text = readdirSync(logDir)
        .map((f) => readFileSync(path.join(logDir, f), "utf8"))
        .join("");
      return text.includes("CREATE TABLE base_audited") ? text : null;
    });
    assert.doesNotMatch(audit, /,WRITE,INSERT,[^\n]*base_audited/, "no WRITE class at Base");
  });
});

describe("termination", () => {
  test("stops local_proxy (SIGTERM) and pgbouncer (SIGKILL) as Neon does", async () => {
    const res = await agent.post("/terminate?mode=immediate");
    assert.equal(res.status, 200);
    await pgb.exited;
    assert.equal(pgb.process.signalCode, "SIGKILL");
    await until("SIGTERM to local_proxy", async () => (proxy.signals().includes("TERM") ? true : null));
  });
});
