// End to end: the termination signals and the agent's exit code. SIGINT and SIGQUIT, like
// SIGTERM, stop Postgres with a fast shutdown; a fast shutdown that cannot finish is escalated to
// SIGQUIT after --shutdown-escalation-s (a fast /terminate too: one termination path); and when Postgres exits on its own, the agent exits with
// Postgres's exit code (1 when a signal killed it). A Postgres that ignores SIGINT and SIGQUIT (a
// stopped postmaster) is killed on the ladder's last rung; a signal during the start cancels it.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer, type Socket } from "node:net";
import path from "node:path";
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
import { pgBinaries, tempDir } from "./support/postgres.js";

const agents: RunningAgent[] = [];
const stopped: number[] = [];
after(async () => {
  for (const pid of stopped) {
    try {
      process.kill(pid, "SIGCONT");
    } catch {
      // gone
    }
  }
  await Promise.all(agents.map((a) => a.stop()));
});

const quickSpec = () => minimalSpec({ skip_pg_catalog_updates: true });
const EXIT_WAIT_MS = 60_000;

async function exitOf(agent: RunningAgent): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the agent did not exit in ${EXIT_WAIT_MS} ms`)), EXIT_WAIT_MS);
  });
  try {
    return await Promise.race([agent.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function clusterState(pgdata: string): string {
  const control = execFileSync(pgBinaries.tool("pg_controldata"), ["-D", pgdata], {
    encoding: "utf8",
    env: { ...process.env, LC_ALL: "C" },
  });
  return /Database cluster state:\s+(.*)\n/.exec(control)?.[1] ?? "?";
}

for (const signal of ["SIGINT", "SIGQUIT"] as const) {
  test(`${signal} to the agent shuts Postgres down fast (shutdown checkpoint) and the agent exits 0`, async () => {
    const agent = await startAgent({ spec: quickSpec(), name: `signal-${signal}` });
    agents.push(agent);
    await agent.waitForStatus("running");
    const pid = postmasterPid(agent.pgdata);
    agent.proc.kill(signal);
    const exit = await exitOf(agent);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.equal(isAlive(pid), false);
    assert.equal(clusterState(agent.pgdata), "shut down", "a fast shutdown, not an immediate one");
    const logged = agent.logEntries().find((e) => e.msg === `received ${signal} termination signal`);
    assert.ok(logged, `the agent logged ${signal}`);
    assert.equal(
      agent.logEntries().some((e) => String(e.msg).startsWith("fast shutdown did not finish")),
      false,
      "no escalation",
    );
  });
}

/** A running agent with --shutdown-escalation-s `escalationS` and no grace; returns it and the postmaster's pid. */
async function runningAgent(name: string, escalationS: number): Promise<{ agent: RunningAgent; pm: number }> {
  const agent = await startAgent({
    spec: quickSpec(),
    name,
    args: ["--shutdown-escalation-s", String(escalationS)],
    graceS: 0,
  });
  agents.push(agent);
  await agent.waitForStatus("running");
  return { agent, pm: postmasterPid(agent.pgdata) };
}

/** A running agent whose Postgres cannot finish a fast shutdown; returns it and the postmaster's pid. */
async function agentThatCannotShutDownFast(
  name: string,
  escalationS: number,
): Promise<{ agent: RunningAgent; pm: number }> {
  const { agent, pm } = await runningAgent(name, escalationS);
  // A stopped checkpointer never writes the shutdown checkpoint: the fast shutdown cannot end.
  const checkpointer = childPids(pm).find((p) =>
    readFileSync(`/proc/${p}/cmdline`, "utf8").includes("checkpointer"),
  );
  assert.ok(checkpointer, "the checkpointer runs");
  process.kill(checkpointer, "SIGSTOP");
  stopped.push(checkpointer);
  return { agent, pm };
}

test("a fast shutdown that cannot finish is escalated to SIGQUIT after --shutdown-escalation-s", async () => {
  const escalationS = 2;
  const { agent, pm } = await agentThatCannotShutDownFast("signal-escalation", escalationS);
  const t0 = Date.now();
  agent.proc.kill("SIGTERM");
  const exit = await exitOf(agent);
  // Postgres answers SIGQUIT by killing (SIGKILL) children that do not quit within 5 s.
  assert.ok(Date.now() - t0 >= escalationS * 1000, "not escalated before the delay");
  const escalated = agent.logEntries().find((e) => String(e.msg).startsWith("fast shutdown did not finish"));
  assert.equal(escalated?.after_s, escalationS);
  assert.equal(isAlive(pm), false);
  assert.deepEqual(postgresPidsOf(agent.pgdata), [], "no Postgres process is left");
  assert.equal(clusterState(agent.pgdata), "in production", "an immediate shutdown: no shutdown checkpoint");
  const exiting = agent.logEntries().find((e) => e.msg === "compute_ctl exiting");
  assert.equal(exit.code, exiting?.exit_code);
});

test("a fast /terminate that cannot finish is escalated the same way: one termination path", async () => {
  const escalationS = 2;
  const { agent, pm } = await agentThatCannotShutDownFast("terminate-escalation", escalationS);
  const t0 = Date.now();
  const res = await agent.post("/terminate?mode=fast");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { lsn: null });
  assert.ok(Date.now() - t0 >= escalationS * 1000, "not escalated before the delay");
  const escalated = agent.logEntries().find((e) => String(e.msg).startsWith("fast shutdown did not finish"));
  assert.equal(escalated?.after_s, escalationS);
  assert.equal(isAlive(pm), false);
  assert.equal(clusterState(agent.pgdata), "in production", "an immediate shutdown: no shutdown checkpoint");
  const done = agent.logEntries().find((e) => e.msg === "compute terminated");
  assert.equal(done?.cause, "api");
  await exitOf(agent);
});

/** A running agent whose postmaster is stopped (SIGSTOP): it ignores SIGINT and SIGQUIT, not SIGKILL. */
async function agentWithStoppedPostmaster(
  name: string,
  escalationS: number,
): Promise<{ agent: RunningAgent; pm: number; children: number[] }> {
  const { agent, pm } = await runningAgent(name, escalationS);
  const children = childPids(pm);
  assert.ok(children.length > 0, "Postgres runs its children");
  process.kill(pm, "SIGSTOP");
  stopped.push(pm);
  return { agent, pm, children };
}

/** The agent's log lines of the shutdown ladder's rungs, in order. */
function rungsLogged(
  agent: RunningAgent,
): { rung: unknown; signal: unknown; after_s: unknown; msg: unknown }[] {
  return agent
    .logEntries()
    .filter((e) => e.rung !== undefined)
    .map((e) => ({ rung: e.rung, signal: e.signal, after_s: e.after_s, msg: e.msg }));
}

function terminatedLogged(agent: RunningAgent): boolean {
  return agent.logEntries().some((e) => e.to === "terminated" && String(e.msg).startsWith("compute status"));
}

test("a Postgres that ignores SIGINT and SIGQUIT is killed on the last rung: terminated, every rung logged, no process left", async () => {
  const escalationS = 1;
  const { agent, pm, children } = await agentWithStoppedPostmaster("signal-kill-rung", escalationS);
  const t0 = Date.now();
  agent.proc.kill("SIGTERM");
  const exit = await exitOf(agent);
  assert.ok(Date.now() - t0 >= 2 * escalationS * 1000, "two rungs waited before the kill");
  assert.deepEqual(
    rungsLogged(agent).map(({ rung, signal, after_s }) => ({ rung, signal, after_s })),
    [
      { rung: "fast", signal: "SIGINT", after_s: undefined },
      { rung: "immediate", signal: "SIGQUIT", after_s: escalationS },
      { rung: "kill", signal: "SIGKILL", after_s: escalationS },
    ],
  );
  assert.ok(terminatedLogged(agent), "the compute reached terminated");
  assert.equal(isAlive(pm), false, "the postmaster is gone");
  assert.deepEqual(children.filter(isAlive), [], "no child of the postmaster is left");
  assert.deepEqual(postgresPidsOf(agent.pgdata), [], "no Postgres process is left");
  assert.equal(exit.code, 1, "Postgres was killed: the agent exits 1");
});

test("/terminate?mode=immediate starts the ladder at SIGQUIT and still ends a Postgres that ignores it", async () => {
  const escalationS = 1;
  const { agent, pm, children } = await agentWithStoppedPostmaster(
    "terminate-immediate-kill-rung",
    escalationS,
  );
  const res = await agent.post("/terminate?mode=immediate");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { lsn: null });
  assert.deepEqual(
    rungsLogged(agent).map(({ rung, signal }) => ({ rung, signal })),
    [
      { rung: "immediate", signal: "SIGQUIT" },
      { rung: "kill", signal: "SIGKILL" },
    ],
    "no fast rung",
  );
  assert.equal((await agent.status()).status, "terminated");
  assert.equal(isAlive(pm), false);
  assert.deepEqual(children.filter(isAlive), [], "no child of the postmaster is left");
  assert.deepEqual(postgresPidsOf(agent.pgdata), [], "no Postgres process is left");
  assert.equal((await exitOf(agent)).code, 1);
});

test("a signal during the start cancels it (pg_basebackup stopped, no Postgres) and the agent exits 0", async (t) => {
  // A "primary" that accepts connections and never answers: the base backup waits on it.
  const sockets = new Set<Socket>();
  let connected!: () => void;
  const firstConnection = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.resume(); // read, so the peer's end is seen
    connected();
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const { port } = silent.address() as AddressInfo;
  const agent = await startAgent({
    spec: minimalSpec({
      mode: "Primary",
      source: { kind: "primary", connstring: `postgresql://postgres@127.0.0.1:${port}/postgres` },
    }),
    name: "signal-during-start",
  });
  agents.push(agent);
  await firstConnection;
  assert.equal((await agent.status()).status, "init");
  const [basebackup] = sockets;
  const closed = new Promise<void>((resolve) => basebackup.once("close", () => resolve()));
  agent.proc.kill("SIGTERM");
  const exit = await exitOf(agent);
  assert.deepEqual(exit, { code: 0, signal: null });
  await closed; // pg_basebackup was stopped with the start
  assert.ok(
    agent.logEntries().some((e) => e.msg === "compute start ended by termination"),
    "the start was cancelled, not failed",
  );
  assert.equal(
    agent.logEntries().some((e) => e.to === "failed"),
    false,
    "never failed",
  );
  assert.ok(terminatedLogged(agent), "the compute reached terminated");
  assert.deepEqual(postgresPidsOf(agent.pgdata), [], "no Postgres was started");
});

/**
 * A `postgres` whose postmaster runs the real one as a child and, when it ends, exits with `code`:
 * the agent cannot tell it from a postmaster that exited with that code. The tools beside it are
 * links to the real ones.
 */
function postgresExitingWith(code: number): string {
  const dir = tempDir("cct-pgbin-");
  for (const tool of readdirSync(pgBinaries.bindir)) {
    if (tool !== "postgres") symlinkSync(path.join(pgBinaries.bindir, tool), path.join(dir, tool));
  }
  const wrapper = path.join(dir, "postgres");
  writeFileSync(
    wrapper,
    `#!/bin/sh
# test/lifecycle-signals.test.ts: a postmaster that exits with ${code}
if [ "$1" != "-D" ]; then exec '${pgBinaries.postgres}' "$@"; fi
'${pgBinaries.postgres}' "$@"
exit ${code}
`,
  );
  chmodSync(wrapper, 0o755);
  return wrapper;
}

test("Postgres exiting on its own: the agent exits with Postgres's exit code, 1 when a signal killed it", async () => {
  const wrapped = await startAgent({
    spec: quickSpec(),
    name: "exit-code-7",
    args: ["--pgbin", postgresExitingWith(7), "--no-template-cache"],
  });
  agents.push(wrapped);
  const killed = await startAgent({ spec: quickSpec(), name: "exit-code-signal" });
  agents.push(killed);
  await Promise.all([wrapped.waitForStatus("running"), killed.waitForStatus("running")]);
  process.kill(postmasterPid(wrapped.pgdata), "SIGKILL");
  process.kill(postmasterPid(killed.pgdata), "SIGKILL");
  assert.deepEqual(await exitOf(wrapped), { code: 7, signal: null });
  assert.deepEqual(await exitOf(killed), { code: 1, signal: null });
  const unexpected = wrapped
    .logEntries()
    .find((e) => String(e.msg).startsWith("Postgres exited unexpectedly"));
  assert.equal(unexpected?.exit_code, 7);
});
