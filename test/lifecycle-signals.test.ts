// End to end: the termination signals and the agent's exit code. SIGINT and SIGQUIT, like
// SIGTERM, stop Postgres with a fast shutdown; a fast shutdown that cannot finish is escalated to
// SIGQUIT after --shutdown-escalation-s (a fast /terminate too: one termination path); and when Postgres exits on its own, the agent exits with
// Postgres's exit code (1 when a signal killed it).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
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

/** A running agent whose Postgres cannot finish a fast shutdown; returns it and the postmaster's pid. */
async function agentThatCannotShutDownFast(
  name: string,
  escalationS: number,
): Promise<{ agent: RunningAgent; pm: number }> {
  const agent = await startAgent({
    spec: quickSpec(),
    name,
    args: ["--shutdown-escalation-s", String(escalationS)],
    graceS: 0,
  });
  agents.push(agent);
  await agent.waitForStatus("running");
  const pm = postmasterPid(agent.pgdata);
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
