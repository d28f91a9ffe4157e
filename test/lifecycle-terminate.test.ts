// End to end: termination by API and by signal, supervision of the postmaster.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, test } from "node:test";
import {
  childPids,
  isAlive,
  minimalSpec,
  postgresPidsOf,
  postmasterPid,
  type RunningAgent,
  startAgent,
} from "./support/agent.js";
import { pgBinaries } from "./support/postgres.js";

const agents: RunningAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
});

const quickSpec = () => minimalSpec({ skip_pg_catalog_updates: true });

async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test("/terminate on an empty compute ends in terminated and the agent exits 0", async () => {
  // The grace keeps the API up for the repeat below; 1 s was not enough on a busy machine.
  const agent = await startAgent({ name: "terminate-empty", graceS: 10 });
  agents.push(agent);
  const res = await agent.post("/terminate");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { lsn: null });
  assert.equal((await agent.status()).status, "terminated");
  const again = await agent.post("/terminate");
  assert.equal(again.status, 201, "a repeat after terminated answers 201");
  const exit = await within(60_000, agent.exited, "agent exit");
  assert.equal(exit.code, 0);
});

test("fast /terminate stops Postgres with a clean shutdown; the agent exits 0 after the grace period", async () => {
  // A grace long enough for the checks made during it, on a busy machine too.
  const agent = await startAgent({ spec: quickSpec(), name: "terminate-fast", graceS: 10 });
  agents.push(agent);
  await agent.waitForStatus("running");
  const pid = postmasterPid(agent.pgdata);
  const t0 = Date.now();
  const res = await agent.post("/terminate?mode=fast");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { lsn: null });
  assert.equal(isAlive(pid), false, "postmaster is gone when /terminate answers");
  const control = execFileSync(pgBinaries.tool("pg_controldata"), ["-D", agent.pgdata], {
    encoding: "utf8",
    env: { ...process.env, LC_ALL: "C" },
  });
  assert.match(control, /Database cluster state:\s+shut down\n/);
  // The API stays up during the grace period...
  assert.equal((await agent.status()).status, "terminated");
  const exit = await within(60_000, agent.exited, "agent exit");
  assert.equal(exit.code, 0);
  assert.ok(Date.now() - t0 >= 10_000, "the agent waited for the grace period");
});

test("immediate /terminate stops Postgres and the agent exits right after answering", async () => {
  // A grace far beyond the wait below: exiting within it means the grace was skipped.
  const agent = await startAgent({ spec: quickSpec(), name: "terminate-immediate", graceS: 600 });
  agents.push(agent);
  await agent.waitForStatus("running");
  const pid = postmasterPid(agent.pgdata);
  const res = await agent.post("/terminate?mode=immediate");
  assert.equal(res.status, 200);
  assert.equal(isAlive(pid), false);
  const exit = await within(60_000, agent.exited, "agent exit without grace");
  assert.equal(exit.code, 0);
});

test("kill -9 of the postmaster: the agent exits 1 and leaves no postgres process", async () => {
  const agent = await startAgent({ spec: quickSpec(), name: "kill-postmaster" });
  agents.push(agent);
  await agent.waitForStatus("running");
  const pid = postmasterPid(agent.pgdata);
  const children = childPids(pid);
  assert.ok(children.length > 0);
  process.kill(pid, "SIGKILL");
  const exit = await within(60_000, agent.exited, "agent exit after postmaster death");
  assert.deepEqual(exit, { code: 1, signal: null });
  // The agent kills what is left of the postmaster's process group; give the kernel time to reap it.
  const deadline = Date.now() + 30_000;
  while (children.some((c) => isAlive(c)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(
    children.filter((c) => isAlive(c)),
    [],
    "no postgres child outlives the agent",
  );
  assert.deepEqual(postgresPidsOf(agent.pgdata), []);
});

test("SIGTERM to the agent shuts Postgres down fast and the agent exits", async () => {
  const agent = await startAgent({ spec: quickSpec(), name: "sigterm" });
  agents.push(agent);
  await agent.waitForStatus("running");
  const pid = postmasterPid(agent.pgdata);
  agent.proc.kill("SIGTERM");
  const exit = await within(60_000, agent.exited, "agent exit after SIGTERM");
  assert.equal(exit.code, 0);
  assert.equal(isAlive(pid), false);
  const control = execFileSync(pgBinaries.tool("pg_controldata"), ["-D", agent.pgdata], {
    encoding: "utf8",
    env: { ...process.env, LC_ALL: "C" },
  });
  assert.match(control, /Database cluster state:\s+shut down\n/);
});
