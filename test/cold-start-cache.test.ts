// End to end: the agent's initdb source with the template cache. Two agents starting at once on
// an empty cache both come up and leave exactly one valid template; `--no-template-cache` runs
// initdb and leaves the cache directory alone.
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import pino from "pino";
import { cachedInitdbSource } from "../src/startup/sources/template-cache-source.js";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { tempDir } from "./support/postgres.js";
import { specJson, testSourceContext } from "./support/source-context.js";

const root = tempDir("cct-csc-");
const agents: RunningAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  rmSync(root, { recursive: true, force: true });
});

async function metrics(agent: RunningAgent): Promise<Record<string, number>> {
  return (await (await agent.get("/metrics.json")).json()) as Record<string, number>;
}

test("two agents starting at once on an empty cache both run and leave one valid template", async () => {
  const cacheDir = path.join(root, "shared-cache");
  // A later --cache-dir overrides the default one startAgent passes (parseArgs: last wins).
  const pair = await Promise.all(
    ["a", "b"].map((name) =>
      startAgent({ spec: minimalSpec(), args: ["--cache-dir", cacheDir], name: `cache-race-${name}` }),
    ),
  );
  agents.push(...pair);
  await Promise.all(pair.map((a) => a.waitForStatus("running", 120_000)));
  for (const a of pair) assert.equal((await a.query("SELECT 1 AS one"))[0].one, 1);

  const names = readdirSync(cacheDir);
  assert.equal(names.filter((n) => n.startsWith("initdb-")).length, 1, `one template: ${names.join(", ")}`);
  assert.deepEqual(
    names.filter((n) => n.startsWith(".")),
    [],
    "no build directories left behind",
  );
  const published = pair.flatMap((a) => a.logEntries()).filter((l) => l.msg === "template published");
  assert.equal(published.length, 1, "exactly one agent published");

  // The surviving template is whole: a start from it copies without a warning.
  const logs: Record<string, unknown>[] = [];
  const ctx = testSourceContext(specJson({}));
  const log = pino({ level: "info" }, { write: (line: string) => logs.push(JSON.parse(line)) });
  try {
    await cachedInitdbSource(cacheDir).prepare({ ...ctx, log });
    assert.ok(ctx.metrics.has("template_copy_ms"), "started from the published template");
    assert.deepEqual(
      logs.filter((l) => l.level === 40),
      [],
    );
  } finally {
    ctx.cleanup();
  }
});

test("--no-template-cache runs initdb and does not touch the cache directory", async () => {
  const cacheDir = path.join(root, "unused-cache");
  const agent = await startAgent({
    spec: minimalSpec(),
    args: ["--cache-dir", cacheDir, "--no-template-cache"],
    name: "no-template-cache",
  });
  agents.push(agent);
  await agent.waitForStatus("running", 120_000);
  const m = await metrics(agent);
  // By the launch's head start beside -D (initdb_staged_ms), or in the start itself (initdb_ms).
  assert.ok(m.initdb_staged_ms > 0 || m.initdb_ms > 0, `initdb ran: ${JSON.stringify(m)}`);
  assert.equal(m.template_copy_ms, undefined);
  assert.ok(!existsSync(cacheDir), "cache directory not created");
});
