// End to end: bad specs and failing starts.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, test } from "node:test";
import { AGENT_BIN, minimalSpec, type RunningAgent, runAgentToExit, startAgent } from "./support/agent.js";
import { freePort } from "./support/ports.js";
import { tempDir } from "./support/postgres.js";

const agents: RunningAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
});

/** A previous compute's data directory (the agent may wipe it) with a file to watch. */
function previousPgdata(root: string): string {
  const pgdata = path.join(root, "pgdata");
  mkdirSync(pgdata);
  writeFileSync(path.join(pgdata, "PG_VERSION"), "15\n");
  writeFileSync(path.join(pgdata, "precious"), "keep me");
  return pgdata;
}

test("a spec with a wrong type or a missing field exits 1 naming the JSON path; the data dir is untouched", async (t) => {
  const root = tempDir("ccf-");
  // Free ports: the listeners bind before the spec is read.
  const ports: [number, number, number] = [await freePort(), await freePort(), await freePort()];
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const pgdata = previousPgdata(root);
  const cases: [unknown, RegExp][] = [
    [{ ...minimalSpec(), cluster: { roles: [{ name: 5 }], databases: [] } }, /\$\.cluster\.roles\[0\]\.name/],
    [{ format_version: 1, cluster: { roles: [], databases: [] } }, /\$\.suspend_timeout_seconds/],
    [{ ...minimalSpec(), mode: "Replica" }, /\$\.mode/],
  ];
  for (const [spec, pattern] of cases) {
    const file = path.join(root, "spec.json");
    writeFileSync(file, JSON.stringify(spec));
    const r = runAgentToExit(root, pgdata, file, ports, 10_000);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, pattern);
    assert.deepEqual(readdirSync(pgdata).sort(), ["PG_VERSION", "precious"]);
    assert.equal(readFileSync(path.join(pgdata, "precious"), "utf8"), "keep me");
  }
});

for (const which of ["REST", "gRPC TCP"] as const) {
  test(`a ${which} port already in use exits 1 naming it, before the data dir is touched`, async (t) => {
    const root = tempDir("ccf-port-");
    const taken = http.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    t.after(() => {
      taken.close();
      rmSync(root, { recursive: true, force: true });
    });
    const port = (taken.address() as AddressInfo).port;
    const [a, b] = [await freePort(), await freePort()];
    const [rest, grpc] = which === "REST" ? [port, a] : [a, port];
    const pgdata = previousPgdata(root);
    const file = path.join(root, "spec.json");
    writeFileSync(file, JSON.stringify(minimalSpec()));
    const r = spawnSync(
      AGENT_BIN,
      [
        ...["-D", pgdata, "-C", "postgresql://postgres@127.0.0.1:1/postgres", "-S", file],
        ...[
          "--http-host",
          "127.0.0.1",
          "--external-http-port",
          String(rest),
          "--internal-http-port",
          String(b),
        ],
        ...["--grpc-port", String(grpc), "--grpc-socket", path.join(root, "run", "g.sock")],
      ],
      { encoding: "utf8", timeout: 10_000 },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`EADDRINUSE.*:${port}`));
    assert.deepEqual(readdirSync(pgdata).sort(), ["PG_VERSION", "precious"]);
  });
}

test("a setting Postgres rejects ends in failed with Postgres's own error; the agent exits non-zero after the grace period", async () => {
  const spec = minimalSpec({ skip_pg_catalog_updates: true });
  (spec.cluster as { settings: unknown[] }).settings = [
    { name: "shared_buffers", value: "lots", vartype: "string" },
  ];
  // The grace keeps the API up long enough to read `failed` on a busy machine.
  const agent = await startAgent({ spec, name: "bad-setting", graceS: 10 });
  agents.push(agent);
  const st = await agent.waitForStatus("failed");
  assert.match(st.error ?? "", /invalid value for parameter "shared_buffers"/);
  const exit = await agent.exited;
  assert.deepEqual(exit, { code: 1, signal: null }, "a failed start exits 1 after the grace");
});
