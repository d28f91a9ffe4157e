// /ready means Postgres answers: with the postmaster frozen (SIGSTOP: new connections hang,
// psql times out) /ready turns 503 with the reason within 5 s while /healthz stays 200, and it
// is 200 again after SIGCONT. Not running is 503 too.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { minimalSpec, postmasterPid, type RunningAgent, startAgent } from "./support/agent.js";

let agent: RunningAgent;
before(async () => {
  agent = await startAgent({ spec: minimalSpec(), name: "ready-probe" });
  await agent.waitForStatus("running");
});
after(() => agent?.stop());

async function readyUntil(
  status: number,
  withinMs: number,
): Promise<{ ms: number; body: Record<string, unknown> }> {
  const t0 = Date.now();
  for (;;) {
    const res = await agent.get("/ready", { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status === status) return { ms: Date.now() - t0, body };
    if (Date.now() - t0 > withinMs)
      assert.fail(`/ready still ${res.status} after ${withinMs} ms: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("a frozen postmaster makes /ready 503 within 5 s and 200 again after SIGCONT; /healthz stays 200", async () => {
  await readyUntil(200, 10_000);
  const pid = postmasterPid(agent.pgdata);
  process.kill(pid, "SIGSTOP");
  const stoppedAt = Date.now();
  try {
    const { body } = await readyUntil(503, 5000);
    assert.ok(Date.now() - stoppedAt <= 5000);
    assert.equal(body.status, "running", "the compute is still running, just not ready");
    assert.match(String(body.reason), /Postgres has not answered a query/);
    const health = await agent.get("/healthz", { signal: AbortSignal.timeout(2000) });
    assert.equal(health.status, 200);
  } finally {
    process.kill(pid, "SIGCONT");
  }
  await readyUntil(200, 10_000);
});

test("an empty agent is not ready, and says why", async (t) => {
  const empty = await startAgent({ name: "ready-empty" });
  t.after(() => empty.stop());
  const res = await empty.get("/ready");
  assert.equal(res.status, 503);
  assert.deepEqual(await res.json(), { ready: false, status: "empty", reason: "the compute is empty" });
});

test("the probe pauses when nobody asks for readiness and resumes, fresh, on the next ask", async () => {
  const { default: pino } = await import("pino");
  const { ReadinessProbe } = await import("../src/monitor/readiness-probe.js");
  const { startTestPostgres } = await import("./support/postgres.js");
  const pg = await startTestPostgres();
  const probe = new ReadinessProbe({
    connstr: pg.connstr(),
    maxAgeMs: 3000,
    intervalMs: 100,
    pauseAfterMs: 300,
    log: pino({ level: "silent" }),
  });
  const sessions = async () =>
    Number(
      (
        await pg.query<{ n: string }>(
          "SELECT sessions::text AS n FROM pg_stat_database WHERE datname = 'postgres'",
        )
      )[0].n,
    );
  try {
    probe.start();
    const deadline = Date.now() + 30_000;
    while (!probe.paused) {
      assert.ok(Date.now() < deadline, "the probe paused");
      await new Promise((r) => setTimeout(r, 50));
    }
    // Paused: no probe connections (only this test's own queries count).
    const before = await sessions();
    await new Promise((r) => setTimeout(r, 500));
    // Probing every 100 ms would add about 5; the counting queries' own sessions add at most 2.
    assert.ok((await sessions()) <= before + 2, "no probe sessions while paused");
    // Asked again: answering (the last answer stands as of now) and probing again.
    assert.deepEqual(probe.view(), { answering: true, reason: null });
    assert.equal(probe.paused, false);
    const resumed = await sessions();
    while ((await sessions()) <= resumed + 3) {
      assert.ok(Date.now() < deadline, "probes resumed");
      probe.view();
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    probe.stop();
    await pg.stop();
  }
});
