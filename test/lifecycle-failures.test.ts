// End to end: bad specs and failing starts.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { AGENT_BIN, minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { tempDir } from "./support/postgres.js";

const agents: RunningAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
});

test("a spec with a wrong type or a missing field exits 1 naming the JSON path; the data dir is untouched", (t) => {
  const root = tempDir("ccf-");
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const pgdata = path.join(root, "pgdata");
  mkdirSync(pgdata);
  writeFileSync(path.join(pgdata, "precious"), "keep me");
  const cases: [unknown, RegExp][] = [
    [{ ...minimalSpec(), cluster: { roles: [{ name: 5 }], databases: [] } }, /\$\.cluster\.roles\[0\]\.name/],
    [{ format_version: 1, cluster: { roles: [], databases: [] } }, /\$\.suspend_timeout_seconds/],
    [{ ...minimalSpec(), mode: "Replica" }, /\$\.mode/],
  ];
  for (const [spec, pattern] of cases) {
    const file = path.join(root, "spec.json");
    writeFileSync(file, JSON.stringify(spec));
    const r = spawnSync(
      AGENT_BIN,
      ["-D", pgdata, "-C", "postgresql://postgres@127.0.0.1:1/postgres", "-S", file],
      {
        encoding: "utf8",
        timeout: 10_000,
      },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, pattern);
    assert.deepEqual(readdirSync(pgdata), ["precious"]);
    assert.equal(readFileSync(path.join(pgdata, "precious"), "utf8"), "keep me");
  }
});

test("a setting Postgres rejects ends in failed with Postgres's own error; the agent exits non-zero after the grace period", async () => {
  const spec = minimalSpec({ skip_pg_catalog_updates: true });
  (spec.cluster as { settings: unknown[] }).settings = [
    { name: "shared_buffers", value: "lots", vartype: "string" },
  ];
  const agent = await startAgent({ spec, name: "bad-setting", graceS: 1 });
  agents.push(agent);
  const st = await agent.waitForStatus("failed");
  assert.match(st.error ?? "", /invalid value for parameter "shared_buffers"/);
  const exit = await agent.exited;
  assert.notEqual(exit.code, 0);
});
