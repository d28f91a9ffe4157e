// End to end: the agent runs the vm-monitor only when AUTOSCALING is set, and puts Postgres in
// the configured cgroup (a directory the test controls: these machines have no cgroup v2 memory
// controller).
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, test } from "node:test";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { FakeAutoscalerAgent } from "./support/fake-autoscaler-agent.js";
import { freePort } from "./support/ports.js";
import { tempDir } from "./support/postgres.js";

const agents: RunningAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
});

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

test("without AUTOSCALING the vm-monitor port is not opened", async () => {
  const port = await freePort();
  const env = { ...process.env };
  delete env.AUTOSCALING;
  const agent = await startAgent({
    spec: minimalSpec({ skip_pg_catalog_updates: true }),
    args: ["--vm-monitor-addr", `127.0.0.1:${port}`],
    env: env as Record<string, string>,
    name: "no-autoscaling",
  });
  agents.push(agent);
  await agent.waitForStatus("running");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await portOpen(port), false);
});

test("with AUTOSCALING the vm-monitor answers a (protocol-level fake autoscaler-agent) and Postgres enters the cgroup", async (t) => {
  const port = await freePort();
  const cgRoot = tempDir("ccg-");
  t.after(() => rmSync(cgRoot, { recursive: true, force: true }));
  const cg = path.join(cgRoot, "neon-postgres");
  mkdirSync(cg);
  writeFileSync(path.join(cg, "memory.stat"), "anon 0\nactive_anon 1000\ninactive_anon 1000\n");
  writeFileSync(path.join(cg, "cgroup.procs"), "");
  const agent = await startAgent({
    spec: minimalSpec({ skip_pg_catalog_updates: true }),
    args: ["--vm-monitor-addr", `127.0.0.1:${port}`, "--cgroup", cg],
    env: { AUTOSCALING: "true" },
    name: "autoscaling",
  });
  agents.push(agent);
  await agent.waitForStatus("running");
  let fake: FakeAutoscalerAgent | null = null;
  // The vm-monitor is a background service started once the compute runs.
  const deadline = Date.now() + 60_000;
  while (!fake && Date.now() < deadline) {
    fake = await FakeAutoscalerAgent.connect(`ws://127.0.0.1:${port}/monitor`).catch(() => null);
    if (!fake) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(fake, "vm-monitor accepted the connection");
  const reply = await fake.healthCheck();
  assert.equal(reply.type, "HealthCheck");
  await fake.close();
  const { readFileSync } = await import("node:fs");
  const { postmasterPid } = await import("./support/agent.js");
  assert.match(
    readFileSync(path.join(cg, "cgroup.procs"), "utf8"),
    new RegExp(`\\b${postmasterPid(agent.pgdata)}\\b`),
  );
});
