// A running compute stays healthy and manageable whatever a /configure sends: a spec the parser
// can refuse is a 4xx naming the field (a 64-byte role name, a setting injecting lines into
// postgresql.conf: at launch, through POST /configure and through the Configure RPC); a file
// Postgres rejects is a 4xx with Postgres's reason and the previous postgresql.conf is back; the
// compute stays `running` throughout. And /terminate works from `failed`.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  isAlive,
  minimalSpec,
  postgresPidsOf,
  type RunningAgent,
  runAgentToExit,
  startAgent,
} from "./support/agent.js";
import { connectClient } from "./support/grpc-harness.js";
import { freePort } from "./support/ports.js";
import { tempDir } from "./support/postgres.js";

const INJECTED = "4MB\narchive_mode = on\narchive_command = 'touch /tmp/cct_pwned_%f'";

function withSettings(settings: { name: string; value: string; vartype: string }[]) {
  const spec = minimalSpec({ skip_pg_catalog_updates: false });
  (spec.cluster as { settings: unknown[] }).settings = settings;
  return spec;
}

describe("a running compute", () => {
  let agent: RunningAgent;
  let confBefore: string;
  before(async () => {
    agent = await startAgent({
      spec: withSettings([{ name: "cctl.mark", value: "v1", vartype: "string" }]),
      name: "reconfigure-safety",
    });
    await agent.waitForStatus("running");
    confBefore = readFileSync(path.join(agent.pgdata, "postgresql.conf"), "utf8");
  });
  after(() => agent?.stop());

  async function unchanged(): Promise<void> {
    assert.equal((await agent.status()).status, "running");
    assert.equal(readFileSync(path.join(agent.pgdata, "postgresql.conf"), "utf8"), confBefore);
    const [{ v }] = await agent.query<{ v: string }>("SELECT current_setting('cctl.mark') AS v");
    assert.equal(v, "v1");
  }

  test("a 64-byte role name is a 400 naming cluster.roles[i].name; the compute stays running", async () => {
    const spec = minimalSpec();
    (spec.cluster as { roles: unknown[] }).roles = [
      { name: "fine", encrypted_password: null, options: null },
      { name: "r".repeat(64), encrypted_password: null, options: null },
    ];
    const res = await agent.post("/configure", { spec });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /\$\.spec\.cluster\.roles\[1\]\.name/);
    await unchanged();
  });

  test("setting injection through POST /configure and the Configure RPC is refused naming the field", async () => {
    for (const [settings, field] of [
      [[{ name: "work_mem", value: INJECTED, vartype: "integer" }], "value"],
      [
        [{ name: `work_mem = 4MB\narchive_command = 'touch /tmp/x'\nx`, value: "1", vartype: "integer" }],
        "name",
      ],
    ] as const) {
      const res = await agent.post("/configure", { spec: withSettings([...settings]) });
      assert.equal(res.status, 400);
      assert.match(
        ((await res.json()) as { error: string }).error,
        new RegExp(`\\$\\.spec\\.cluster\\.settings\\[0\\]\\.${field}`),
      );
      const client = connectClient("connect", { socketPath: agent.grpcSocket });
      await assert.rejects(
        client.configure({
          spec: {
            formatVersion: 1,
            suspendTimeoutSeconds: -1n,
            cluster: { settings: settings.map((s) => ({ ...s })) },
          },
        }),
        (err: unknown) =>
          err instanceof ConnectError &&
          err.code === Code.InvalidArgument &&
          new RegExp(`cluster\\.settings\\[0\\]\\.${field}`).test(err.message),
      );
    }
    await unchanged();
    assert.ok(!readFileSync(path.join(agent.pgdata, "postgresql.conf"), "utf8").includes("archive_command"));
  });

  test("a postgresql.conf Postgres rejects is a 400 with Postgres's reason and the previous file is back", async () => {
    for (const spec of [
      // Passes the parser (a string is a string), but shared_buffers is no string Postgres takes.
      withSettings([{ name: "shared_buffers", value: "lots", vartype: "string" }]),
      // The operator's verbatim text with a syntax error.
      minimalSpec({
        cluster: {
          roles: [],
          databases: [],
          postgresql_conf: "listen_addresses = '127.0.0.1'\nfsync = = off",
        },
      }),
      // A quote and a line break in a string: before, Postgres logged "contains errors" while the
      // agent answered 200 - now the parser refuses it.
    ]) {
      const res = await agent.post("/configure", { spec });
      assert.equal(res.status, 400);
      assert.match(
        ((await res.json()) as { error: string }).error,
        /Postgres rejected the new postgresql\.conf.*(shared_buffers|syntax error)/,
      );
      await unchanged();
    }
    const quoted = await agent.post("/configure", {
      spec: withSettings([{ name: "cctl.mark", value: "it's\nbroken", vartype: "string" }]),
    });
    assert.equal(quoted.status, 400);
    await unchanged();
    // And it stays manageable: a good spec applies.
    const good = await agent.post("/configure", {
      spec: withSettings([{ name: "cctl.mark", value: "v2", vartype: "string" }]),
    });
    assert.equal(good.status, 200, await good.clone().text());
    let seen = "";
    for (let i = 0; i < 100 && seen !== "v2"; i++) {
      [{ v: seen }] = await agent.query<{ v: string }>("SELECT current_setting('cctl.mark') AS v");
      if (seen !== "v2") await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(seen, "v2");
  });
});

test("setting injection in a launch spec exits 1 naming the field; nothing is touched", async (t) => {
  const root = tempDir("cct-inject-");
  const ports: [number, number, number] = [await freePort(), await freePort(), await freePort()];
  t.after(() => spawnSync("rm", ["-rf", root]));
  const file = path.join(root, "spec.json");
  writeFileSync(
    file,
    JSON.stringify(withSettings([{ name: "work_mem", value: INJECTED, vartype: "integer" }])),
  );
  const pgdata = path.join(root, "pgdata");
  const r = runAgentToExit(root, pgdata, file, ports, 20_000);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /\$\.cluster\.settings\[0\]\.value: contains a line break/);
  assert.ok(!existsSync(pgdata));
});

test("/terminate from failed terminates: the status is terminated and no Postgres is left", async (t) => {
  const spec = minimalSpec();
  // Found only by Postgres, after it started: the start fails (and Postgres is stopped).
  (spec.cluster as { databases: unknown[] }).databases = [
    { name: "orphan", owner: "no_such_owner", options: null },
  ];
  const agent = await startAgent({ spec, name: "terminate-failed", graceS: 60 });
  t.after(() => agent.stop());
  const st = await agent.waitForStatus("failed");
  assert.match(st.error ?? "", /no_such_owner/);
  assert.equal(
    (await agent.post("/configure", { spec: minimalSpec() })).status,
    412,
    "no configure from failed",
  );
  const res = await agent.post("/terminate");
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal((await agent.status()).status, "terminated");
  assert.deepEqual(postgresPidsOf(agent.pgdata).filter(isAlive), [], "no Postgres left");
  // A repeat is the idempotent answer of a terminated compute.
  assert.equal((await agent.post("/terminate")).status, 201);
});
