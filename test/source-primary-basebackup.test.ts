// The primary data source against a real test primary: a Replica-mode copy that keeps following
// it (and its promotion), a Primary-mode copy that is an independent fork, retries, and the
// parse-time rejection of Static with this source.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pino from "pino";
import { ReplicaPromoter } from "../src/postgres/replica-promoter.js";
import { parseSpec } from "../src/spec/parse.js";
import { primaryBasebackupSource } from "../src/startup/sources/primary-basebackup.js";
import { startComputePostgres } from "./support/compute-postgres.js";
import { freePort } from "./support/ports.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";
import { specJson, testSourceContext } from "./support/source-context.js";

const log = pino({ level: "silent" });

type TestContext = { after(fn: () => unknown): void };

/** Cleanups run last-registered first (t.after runs hooks in registration order). */
function undoStack(t: TestContext): (fn: () => unknown) => void {
  const fns: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of fns.reverse()) await fn();
  });
  return (fn) => fns.push(fn);
}

async function waitFor<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
}

describe("primary source (pg_basebackup from a test primary)", () => {
  let primary: TestPostgres;

  before(async () => {
    primary = await startTestPostgres({
      settings: { wal_level: "replica", max_wal_senders: "10" },
      hba: ["host replication all 127.0.0.1/32 trust"],
    });
    await primary.query("CREATE TABLE t (id int primary key, note text)");
    await primary.query("INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 1000) g");
  });
  after(async () => {
    await primary?.stop();
  });

  test("Replica mode follows the primary, refuses writes; promote makes it writable and independent", async (t) => {
    const undo = undoStack(t);
    const ctx = testSourceContext(
      specJson({
        mode: "Replica",
        source: { kind: "primary", connstring: primary.tcpConnstr(), slot_name: "compute_replica" },
      }),
    );
    undo(() => ctx.cleanup());
    const result = await primaryBasebackupSource().prepare(ctx);

    assert.deepEqual(result.confLines, [
      `primary_conninfo = '${primary.tcpConnstr()}'`,
      "hot_standby = on",
      "primary_slot_name = 'compute_replica'",
    ]);
    assert.match(result.lsn ?? "", /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.ok(existsSync(path.join(ctx.pgdata, "standby.signal")));
    assert.ok((ctx.metrics.get("basebackup_bytes") ?? 0) > 1_000_000);
    assert.ok(ctx.metrics.has("basebackup_ms"));
    // pg_basebackup --progress reached the report (its last line says 100%), then it ended.
    const [progress] = ctx.progressReports;
    assert.equal(progress.phase, "basebackup");
    assert.ok(progress.ended);
    const final = progress.updates.at(-1);
    assert.ok(
      final?.bytesDone && final.bytesTotal && final.bytesDone <= final.bytesTotal,
      JSON.stringify(progress.updates),
    );

    const compute = await startComputePostgres(ctx.pgdata, result.confLines);
    undo(() => compute.stop());
    const [{ n }] = await compute.query<{ n: number }>("SELECT count(*)::int AS n FROM t");
    assert.equal(n, 1000);

    await primary.query("INSERT INTO t VALUES (1001, 'after the copy')");
    await waitFor("row from the primary on the replica", 60_000, async () => {
      const rows = await compute.query("SELECT 1 FROM t WHERE id = 1001");
      return rows.length ? true : undefined;
    });
    await assert.rejects(compute.query("INSERT INTO t VALUES (2000, 'x')"), /read-only transaction/);
    const slots = await primary.query<{ active: boolean }>(
      "SELECT active FROM pg_replication_slots WHERE slot_name = 'compute_replica'",
    );
    assert.deepEqual(slots, [{ active: true }]);

    // Promote at the primary's current flush position; two concurrent callers share one promotion.
    const [{ lsn }] = await primary.query<{ lsn: string }>("SELECT pg_current_wal_flush_lsn()::text AS lsn");
    const promoter = new ReplicaPromoter();
    const opts = { target: { connstr: compute.connstr }, walFlushLsn: lsn, log };
    const t0 = performance.now();
    const [a, b] = await Promise.all([promoter.promote(opts), promoter.promote(opts)]);
    const elapsed = performance.now() - t0;
    assert.equal(a, b, "concurrent callers get the same result");
    // Its two phases are parts of the call, and it reached the LSN it was asked to wait for.
    assert.ok(Number.isInteger(a.lsn_wait_time_ms) && Number.isInteger(a.pg_promote_time_ms));
    assert.ok(
      a.lsn_wait_time_ms + a.pg_promote_time_ms <= Math.ceil(elapsed) + 1,
      `${a.lsn_wait_time_ms} + ${a.pg_promote_time_ms} ms within the ${elapsed} ms call`,
    );
    const [{ reached }] = await compute.query<{ reached: boolean }>(
      "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS reached",
      [lsn],
    );
    assert.equal(reached, true);
    assert.equal(await promoter.promote(opts), a, "a later call returns the completed promotion");

    const [{ rec }] = await compute.query<{ rec: boolean }>("SELECT pg_is_in_recovery() AS rec");
    assert.equal(rec, false);
    await compute.query("INSERT INTO t VALUES (3000, 'written after promotion')");
    await primary.query("INSERT INTO t VALUES (1002, 'after the promotion')");
    await sleep(500);
    assert.equal(
      (await compute.query("SELECT 1 FROM t WHERE id = 1002")).length,
      0,
      "no longer follows the primary",
    );
    assert.equal(
      (await primary.query("SELECT 1 FROM t WHERE id = 3000")).length,
      0,
      "its writes stay its own",
    );
  });

  test("Primary mode is a writable fork whose writes do not reach the source", async (t) => {
    const undo = undoStack(t);
    // A primary_conninfo set on the source with ALTER SYSTEM travels in postgresql.auto.conf.
    await primary.query("ALTER SYSTEM SET primary_conninfo = 'host=elsewhere'");
    undo(() => primary.query("ALTER SYSTEM RESET primary_conninfo"));
    const ctx = testSourceContext(
      specJson({ mode: "Primary", source: { kind: "primary", connstring: primary.connstr() } }),
    );
    undo(() => ctx.cleanup());
    const result = await primaryBasebackupSource().prepare(ctx);

    assert.deepEqual(result.confLines, []);
    assert.equal(existsSync(path.join(ctx.pgdata, "standby.signal")), false);
    assert.doesNotMatch(
      readFileSync(path.join(ctx.pgdata, "postgresql.auto.conf"), "utf8"),
      /primary_conninfo/,
    );

    const compute = await startComputePostgres(ctx.pgdata, result.confLines);
    undo(() => compute.stop());
    const [{ rec }] = await compute.query<{ rec: boolean }>("SELECT pg_is_in_recovery() AS rec");
    assert.equal(rec, false);
    await compute.query("INSERT INTO t VALUES (5000, 'fork only')");
    assert.equal((await compute.query("SELECT 1 FROM t WHERE id = 5000")).length, 1);
    assert.equal((await primary.query("SELECT 1 FROM t WHERE id = 5000")).length, 0);
  });

  test("an existing replication slot is reused", async (t) => {
    const undo = undoStack(t);
    await primary.query("SELECT pg_create_physical_replication_slot('premade')");
    undo(() => primary.query("SELECT pg_drop_replication_slot('premade')"));
    const ctx = testSourceContext(
      specJson({
        mode: "Replica",
        source: { kind: "primary", connstring: primary.connstr(), slot_name: "premade" },
      }),
    );
    undo(() => ctx.cleanup());
    const result = await primaryBasebackupSource().prepare(ctx);
    assert.ok(result.confLines.includes("primary_slot_name = 'premade'"));
    assert.ok(existsSync(path.join(ctx.pgdata, "PG_VERSION")));
  });

  test("connection errors are retried, then fail with context and without the password", async (t) => {
    const undo = undoStack(t);
    const port = await freePort();
    const ctx = testSourceContext(
      specJson({
        mode: "Replica",
        source: { kind: "primary", connstring: `postgresql://postgres:s3cret@127.0.0.1:${port}/postgres` },
      }),
    );
    undo(() => ctx.cleanup());
    const source = primaryBasebackupSource({ retryPolicy: { retries: 2, delayMs: () => 20 } });
    await assert.rejects(source.prepare(ctx), (err: Error) => {
      assert.match(
        err.message,
        /base backup from postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres failed after 3 attempts/,
      );
      assert.match(err.message, /Connection refused|could not connect/);
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    });
    assert.deepEqual(readdirSync(ctx.pgdata), []);
  });

  test("Static with a primary source is rejected at parse time, saying why", () => {
    assert.throws(
      () =>
        parseSpec(
          specJson({
            mode: { Static: "0/16B5BA8" },
            source: { kind: "primary", connstring: primary.connstr() },
          }),
        ),
      /mode Static needs a source that can serve a past LSN; a fresh base backup of a vanilla primary is consistent only at the moment it is taken, so use the neon or the archive source/,
    );
  });
});
