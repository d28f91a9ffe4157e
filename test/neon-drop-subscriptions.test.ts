// drop_subscriptions_before_start with real Postgres: a publisher, a parent subscribed to it,
// and a branch the agent makes from the parent (a Primary-mode fork by base backup). The branch
// starts without the subscription and never runs it: the publisher's slot stays, still used by
// the same walsender of the parent, and new rows keep reaching the parent only. The drop is
// recorded for the branch's key, so it happens once per branch.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pino from "pino";
import { dropSubscriptionsNow } from "../src/reconcile/drop-subscriptions-now.js";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

const TIMELINE = "2414a61ffc94e428f14b5758fe308e13";
const SUB = "sub from parent";
const SLOT = "parent_slot";

let publisher: TestPostgres;
let parent: TestPostgres;
let agent: RunningAgent | null = null;

async function eventually<T>(what: string, fn: () => Promise<T | null>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function slot(): Promise<{ active: boolean; active_pid: number | null } | null> {
  const [row] = await publisher.query<{ active: boolean; active_pid: number | null }>(
    "SELECT active, active_pid FROM pg_replication_slots WHERE slot_name = $1",
    [SLOT],
  );
  return row ?? null;
}

before(async () => {
  [publisher, parent] = await Promise.all([
    startTestPostgres({ settings: { wal_level: "logical", max_wal_senders: "10" } }),
    startTestPostgres({
      settings: { wal_level: "replica", max_wal_senders: "10" },
      hba: ["host replication all 127.0.0.1/32 trust"],
    }),
  ]);
  await publisher.query("CREATE TABLE items (id int PRIMARY KEY, note text)");
  await publisher.query("INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 10) g");
  await publisher.query("CREATE PUBLICATION pub FOR TABLE items");
  await parent.query("CREATE DATABASE app");
  await parent.query("CREATE TABLE items (id int PRIMARY KEY, note text)", [], "app");
  await parent.query(
    `CREATE SUBSCRIPTION "${SUB}" CONNECTION 'host=127.0.0.1 port=${publisher.port} user=postgres dbname=postgres' PUBLICATION pub WITH (slot_name = ${SLOT})`,
    [],
    "app",
  );
  // The parent has copied the table and streams from its slot.
  await eventually("the parent's initial copy", async () => {
    const [r] = await parent.query<{ n: number; notready: number }>(
      `SELECT (SELECT count(*) FROM items)::int AS n,
              (SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r')::int AS notready`,
      [],
      "app",
    );
    return r.n === 10 && r.notready === 0 ? true : null;
  });
  await eventually("the parent streaming from the slot", async () => ((await slot())?.active ? true : null));
});

after(async () => {
  await agent?.stop();
  await Promise.all([parent?.stop(), publisher?.stop()]);
});

test("a branch starts without its parent's subscription; the publisher's slot stays the parent's", async () => {
  const before = await slot();
  assert.ok(before?.active && before.active_pid);
  agent = await startAgent({
    name: "drop-subs-branch",
    spec: minimalSpec({
      timeline_id: TIMELINE,
      drop_subscriptions_before_start: true,
      source: { kind: "primary", connstring: parent.tcpConnstr() },
    }),
  });
  await agent.waitForStatus("running", 60_000);
  const branch = agent;

  // Gone from the branch, and recorded for this branch's key.
  assert.deepEqual(await branch.query("SELECT subname FROM pg_subscription"), []);
  assert.deepEqual(await branch.query("SELECT timeline_id FROM neon.drop_subscriptions_done"), [
    { timeline_id: TIMELINE },
  ]);
  // The branch never ran it: no apply worker started there, not even for a moment.
  assert.doesNotMatch(branch.logs(), /logical replication apply worker/);
  const timings = (await (await branch.get("/metrics.json")).json()) as Record<string, number>;
  assert.ok(timings.drop_subscriptions_ms > 0, "the private Postgres ran before the real start");

  // The publisher's slot is untouched and still used by the same walsender of the parent.
  assert.deepEqual(await slot(), before);
  const [{ n: subs }] = await parent.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_subscription WHERE pid IS NOT NULL",
    [],
    "app",
  );
  assert.equal(subs, 1, "the parent's apply worker runs");

  // New rows reach the parent, not the branch.
  await publisher.query("INSERT INTO items VALUES (11, 'after the branch')");
  await eventually("the new row at the parent", async () =>
    (await parent.query("SELECT 1 FROM items WHERE id = 11", [], "app")).length === 1 ? true : null,
  );
  const [{ n }] = await branch.query<{ n: number }>("SELECT count(*)::int AS n FROM items", [], "app");
  assert.equal(n, 10);
  assert.deepEqual(await slot(), before);
});

test("once per branch: a recorded key keeps the branch's own subscriptions, another key drops them", async () => {
  assert.ok(agent, "the branch of the previous test");
  const branch = agent;
  const log = pino({ level: "silent" });
  await branch.query(
    `CREATE SUBSCRIPTION own CONNECTION 'host=127.0.0.1 port=${publisher.port} user=postgres dbname=postgres'
       PUBLICATION pub WITH (connect = false)`,
    [],
    "app",
  );
  const same = await dropSubscriptionsNow({ connstr: branch.connstr }, TIMELINE, log);
  assert.deepEqual(same, { alreadyDone: true, dropped: [] });
  assert.equal((await branch.query("SELECT 1 FROM pg_subscription")).length, 1);
  const other = await dropSubscriptionsNow({ connstr: branch.connstr }, "another-branch", log);
  assert.deepEqual(other, { alreadyDone: false, dropped: [{ database: "app", subscription: "own" }] });
  assert.deepEqual(await branch.query("SELECT subname FROM pg_subscription"), []);
  assert.deepEqual(await branch.query("SELECT id, timeline_id FROM neon.drop_subscriptions_done"), [
    { id: 1, timeline_id: "another-branch" },
  ]);
  // The publisher never saw the branch: its only slot is the parent's, still in use.
  assert.deepEqual(
    await publisher.query<{ slot_name: string; active: boolean }>(
      "SELECT slot_name, active FROM pg_replication_slots",
    ),
    [{ slot_name: SLOT, active: true }],
  );
});
