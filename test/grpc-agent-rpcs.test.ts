// The RPCs beyond the lifecycle, against the real agent (bin/compute_ctl, real Postgres) over its
// Unix socket: ListDatabasesAndRoles, GetDatabaseSchema, GetInsights, GetInfo and
// CheckWritability on a primary, and Promote on a replica the agent started from that primary.
// Each answer is checked against what Postgres (or the REST route of the same operation) says.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { SpecViolationSchema } from "../gen/compute/v1/errors_pb.js";
import { ComputeMode, ComputeSpecSchema } from "../gen/compute/v1/spec_pb.js";
import { ComputeStatus } from "../gen/compute/v1/status_pb.js";
import { cpuCount, memoryBytes } from "../src/diagnostics/compute-info.js";
import { minimalSpec, REPO, type RunningAgent, startAgent } from "./support/agent.js";
import { connectClient } from "./support/grpc-harness.js";

const APP_PASSWORD = "app-pw-rpc";
const md5 = (password: string, user: string) =>
  `md5${createHash("md5")
    .update(password + user)
    .digest("hex")}`;

const agents: RunningAgent[] = [];
let primary: RunningAgent;

function primarySpec(): Record<string, unknown> {
  const spec = minimalSpec();
  const cluster = spec.cluster as Record<string, unknown>;
  cluster.roles = [{ name: "app", encrypted_password: md5(APP_PASSWORD, "app"), options: null }];
  cluster.databases = [{ name: "appdb", owner: "app", options: null }];
  cluster.postgresql_conf = `${cluster.postgresql_conf}\nshared_preload_libraries = 'pg_stat_statements'`;
  return spec;
}

async function grpcUp(agent: RunningAgent): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await connectClient("grpc", { socketPath: agent.grpcSocket }).status({});
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function asApp<T>(database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({
    host: "127.0.0.1",
    port: primary.pgPort,
    user: "app",
    password: APP_PASSWORD,
    database,
  });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

before(async () => {
  primary = await startAgent({ spec: primarySpec(), name: "rpc-primary" });
  agents.push(primary);
  await primary.waitForStatus("running");
  await grpcUp(primary);
});
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
});

const client = () => connectClient("grpc", { socketPath: primary.grpcSocket });

test("Configure with a bad field on the real agent: INVALID_ARGUMENT naming it, with the SpecViolation detail", async () => {
  // The core throws the parser's SpecError as is, so the gRPC edge still has its path (the fake
  // API of grpc-errors.test.ts cannot show that the real operation does not re-wrap it).
  const cases: [Parameters<typeof create<typeof ComputeSpecSchema>>[1], string, number][] = [
    [{ cluster: { roles: [{ name: "" }] } }, "$.spec.cluster.roles[0].name", 422],
    [{ mode: ComputeMode.STATIC, staticLsn: "nonsense" }, "$.spec.static_lsn", 422],
    [{ mode: ComputeMode.REPLICA }, "$.spec.mode", 400],
  ];
  for (const [init, path] of cases) {
    const err = await client()
      .configure({ spec: create(ComputeSpecSchema, init) })
      .then(
        () => assert.fail(`${path}: accepted`),
        (e: unknown) => ConnectError.from(e),
      );
    assert.equal(err.code, Code.InvalidArgument, path);
    assert.ok(err.rawMessage.startsWith(`invalid spec at ${path}:`), `${path}: ${err.rawMessage}`);
    const [detail] = err.findDetails(SpecViolationSchema);
    assert.equal(detail?.path, path, `${path}: the SpecViolation detail`);
    assert.ok(detail?.problem, `${path}: the detail says what is wrong`);
  }
  // REST keeps Neon's statuses for the same refusals: 422 for the shape, 400 for a rule.
  const shape = await primary.post("/configure", {
    spec: minimalSpec({ cluster: { roles: [{ name: "" }] } }),
  });
  assert.equal(shape.status, 422);
  assert.match(
    ((await shape.json()) as { error: string }).error,
    /^invalid spec at \$\.spec\.cluster\.roles\[0\]\.name: /,
  );
  const rule = await primary.post("/configure", { spec: minimalSpec({ mode: "Replica" }) });
  assert.equal(rule.status, 400);
  assert.equal((await primary.status()).status, "running", "nothing was applied");
});

test("ListDatabasesAndRoles: the catalog's roles and databases, as GET /dbs_and_roles has them", async () => {
  const listed = await client().listDatabasesAndRoles({});
  const rest = (await (await primary.get("/dbs_and_roles")).json()) as {
    roles: { name: string }[];
    databases: { name: string; owner: string; restrict_conn: boolean; invalid: boolean }[];
  };
  assert.deepEqual(
    listed.roles.map((r) => r.name),
    rest.roles.map((r) => r.name),
  );
  assert.deepEqual(
    listed.databases.map((d) => [d.name, d.owner, d.restrictConn, d.invalid]),
    rest.databases.map((d) => [d.name, d.owner, d.restrict_conn, d.invalid]),
  );
  assert.ok(listed.roles.some((r) => r.name === "app"));
  const appdb = listed.databases.find((d) => d.name === "appdb");
  assert.deepEqual([appdb?.owner, appdb?.restrictConn, appdb?.invalid], ["app", false, false]);
  const [{ n }] = await primary.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_database WHERE datname IN ('postgres', 'appdb')",
  );
  assert.equal(listed.databases.filter((d) => ["postgres", "appdb"].includes(d.name)).length, n);
});

test("GetDatabaseSchema streams pg_dump's schema of a database; an unknown one is NOT_FOUND", async () => {
  await asApp("appdb", (c) => c.query("CREATE TABLE rpc_schema_probe (id int PRIMARY KEY, note text)"));
  let dump = "";
  let chunks = 0;
  for await (const res of client().getDatabaseSchema({ database: "appdb" })) {
    dump += Buffer.from(res.chunk).toString();
    chunks++;
  }
  assert.ok(chunks >= 1);
  assert.match(dump, /CREATE TABLE public\.rpc_schema_probe \(\n\s+id integer NOT NULL,\n\s+note text\n\);/);
  assert.match(dump, /OWNER TO app;/);
  const err = await (async () => {
    try {
      for await (const _ of client().getDatabaseSchema({ database: "no_such_db" })) {
        // nothing arrives
      }
    } catch (e) {
      return ConnectError.from(e);
    }
    return null;
  })();
  assert.equal(err?.code, Code.NotFound, String(err));
});

test("GetInsights: pg_stat_statements of the users' statements, with their real call counts", async () => {
  await primary.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  await asApp("postgres", async (c) => {
    for (let i = 0; i < 3; i++) await c.query("SELECT 4242 AS rpc_insights_marker");
  });
  const insights = await client().getInsights({});
  assert.equal(insights.reason, undefined);
  const mine = insights.statements.filter((s) => String(s.query).includes("rpc_insights_marker"));
  assert.equal(mine.length, 1, JSON.stringify(insights.statements.map((s) => s.query)));
  assert.equal(mine[0].calls, 3);
  const [{ oid }] = await primary.query<{ oid: number }>(
    "SELECT oid::int FROM pg_roles WHERE rolname = 'app'",
  );
  assert.equal(mine[0].userid, oid);
  assert.equal(typeof mine[0].queryid, "string");
});

test("GetInfo: CPUs, memory, versions and uptime, as GET /info and this machine say", async () => {
  const info = await client().getInfo({});
  const rest = (await (await primary.get("/info")).json()) as Record<string, number | string>;
  assert.equal(info.numCpus, rest.num_cpus);
  assert.equal(info.numCpus, cpuCount());
  assert.equal(info.memoryBytes, BigInt(rest.memory_bytes));
  assert.equal(info.memoryBytes, BigInt(memoryBytes()));
  assert.equal(info.pgVersion, rest.pg_version);
  const [{ v }] = await primary.query<{ v: string }>("SELECT current_setting('server_version') AS v");
  assert.equal(info.pgVersion, v.split(" ")[0]);
  const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8"));
  assert.equal(info.agentVersion, pkg.version);
  assert.ok(info.uptimeSeconds > 0 && info.uptimeSeconds <= Number(rest.uptime_s) + 60);
});

test("CheckWritability writes the health_check row on the primary", async () => {
  const [{ before }] = await primary.query<{ before: Date }>("SELECT now() AS before");
  await client().checkWritability({});
  const rows = await primary.query<{ id: number; fresh: boolean }>(
    "SELECT id, updated_at >= $1 AS fresh FROM public.health_check",
    [before],
  );
  assert.deepEqual(rows, [{ id: 1, fresh: true }]);
});

test("Promote turns a replica the agent started from the primary into a writable primary", async () => {
  const spec = minimalSpec({
    mode: "Replica",
    source: { kind: "primary", connstring: `postgresql://postgres@127.0.0.1:${primary.pgPort}/postgres` },
  });
  // A hot standby needs max_connections >= the primary's.
  const replica = await startAgent({ spec, name: "rpc-replica" });
  agents.push(replica);
  await replica.waitForStatus("running");
  await grpcUp(replica);
  await asApp("appdb", async (c) => {
    await c.query("CREATE TABLE promoted_probe (id int)");
    await c.query("INSERT INTO promoted_probe VALUES (7)");
  });
  const [{ lsn }] = await primary.query<{ lsn: string }>("SELECT pg_current_wal_flush_lsn()::text AS lsn");
  const replicaClient = connectClient("grpc", { socketPath: replica.grpcSocket });
  const promoted = await replicaClient.promote({
    spec: create(ComputeSpecSchema, {
      suspendTimeoutSeconds: -1n,
      mode: ComputeMode.PRIMARY,
      source: {
        kind: {
          case: "primary",
          value: { connstring: `postgresql://postgres@127.0.0.1:${primary.pgPort}/postgres` },
        },
      },
      cluster: {
        postgresqlConf:
          "listen_addresses = '127.0.0.1'\nfsync = off\nshared_buffers = 16MB\nmax_connections = 50",
      },
    }),
    walFlushLsn: lsn,
  });
  assert.match(promoted.lsn ?? "", /^[0-9A-F]+\/[0-9A-F]+$/);
  const [{ ahead }] = await replica.query<{ ahead: boolean }>("SELECT $1::pg_lsn >= $2::pg_lsn AS ahead", [
    promoted.lsn,
    lsn,
  ]);
  assert.equal(ahead, true, `the promoted history starts at ${promoted.lsn}, at or after ${lsn}`);
  const [{ rec }] = await replica.query<{ rec: boolean }>("SELECT pg_is_in_recovery() AS rec");
  assert.equal(rec, false);
  assert.deepEqual(await replica.query("SELECT id FROM promoted_probe", [], "appdb"), [{ id: 7 }]);
  await replica.query("INSERT INTO promoted_probe VALUES (8)", [], "appdb");
  assert.equal((await replicaClient.status({})).state?.status, ComputeStatus.RUNNING);
});
