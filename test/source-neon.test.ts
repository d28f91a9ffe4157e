// The neon data source against protocol-level fakes of Neon's storage (a pageserver serving a
// real gzip'd tar of a real cluster, safekeepers answering TIMELINE_STATUS, a stand-in
// `postgres --sync-safekeepers`), and real Postgres started on the data it prepared.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { neonSource } from "../src/startup/sources/neon-source.js";
import { startComputePostgres } from "./support/compute-postgres.js";
import { type ClusterTarball, makeClusterTarball, startFakePageserver } from "./support/fake-pageserver.js";
import {
  type FakeSafekeeper,
  type FakeSafekeeperOptions,
  startFakeSafekeeper,
} from "./support/fake-safekeeper.js";
import { makeFakeSyncSafekeepers } from "./support/fake-sync-safekeepers.js";
import { freePort } from "./support/ports.js";
import { specJson, type TestSourceContext, testSourceContext } from "./support/source-context.js";

const TENANT = "1f4a3c1e5b8d4e2f9a7b6c5d4e3f2a1b";
const TIMELINE = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b";
const TOKEN = "storage.jwt.token";
const fast = (retries: number) => ({ retries, delayMs: () => 20 });

function neonSpec(pageserverUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return specJson({
    tenant_id: TENANT,
    timeline_id: TIMELINE,
    pageserver_connstring: pageserverUrl,
    storage_auth_token: TOKEN,
    project_id: "proj-1",
    branch_id: "br-1",
    endpoint_id: "ep-1",
    ...extra,
  });
}

describe("neon source (protocol-level fake pageserver)", () => {
  let tarball: ClusterTarball;
  const cleanups: (() => unknown)[] = [];
  const track = <T extends { close(): Promise<void> } | TestSourceContext>(x: T): T => {
    cleanups.push("cleanup" in x ? () => x.cleanup() : () => x.close());
    return x;
  };

  before(async () => {
    tarball = await makeClusterTarball();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    tarball?.cleanup();
  });

  async function safekeepers(statuses: FakeSafekeeperOptions["status"][]) {
    const sks: FakeSafekeeper[] = [];
    for (const status of statuses) sks.push(track(await startFakeSafekeeper({ status, password: TOKEN })));
    return sks;
  }

  test("Primary with synced safekeepers: basebackup at their LSN, compute starts from it with the Neon settings", async (t) => {
    const lsn = "0/3000060";
    const sks = await safekeepers([
      { flush_lsn: lsn, commit_lsn: lsn },
      { flush_lsn: lsn, commit_lsn: lsn },
      "silent",
    ]);
    const ps = track(await startFakePageserver({ tarGz: tarball.file, password: TOKEN }));
    const ctx = track(
      testSourceContext(
        neonSpec(ps.url, {
          mode: "Primary",
          safekeeper_connstrings: sks.map((s) => s.address),
          safekeepers_generation: 3,
        }),
      ),
    );
    // Neon's 100 ms budget per safekeeper is a race on a busy machine (a late answer sends the
    // start to sync-safekeepers, which vanilla Postgres lacks); a long budget still shows the
    // silent one does not hold the start up, since the quorum ends the check.
    const result = await neonSource({ safekeeperTimeoutMs: 60_000 }).prepare(ctx);

    assert.equal(result.lsn, lsn);
    assert.equal(ps.calls.length, 1);
    assert.equal(ps.calls[0].command, `basebackup ${TENANT} ${TIMELINE} ${lsn} --gzip`);
    assert.equal(ps.calls[0].password, TOKEN);
    assert.equal(ps.calls[0].params.application_name, "compute_ctl");
    assert.equal(ps.calls[0].params.options, "-c neon.compute_mode=primary");
    // The quorum (2 of 3) answered; the silent one did not hold the start up.
    assert.match(sks[0].calls[0].options, new RegExp(`-c timeline_id=${TIMELINE} tenant_id=${TENANT}`));
    assert.equal(sks[0].calls[0].user, "no_user");
    for (const m of ["sync_sk_check_ms", "pageserver_connect_micros", "basebackup_ms"])
      assert.ok(ctx.metrics.has(m), m);
    assert.equal(ctx.metrics.get("basebackup_bytes"), tarball.bytes);
    // Progress: every compressed byte and every unpacked file counted, then ended.
    const [progress] = ctx.progressReports;
    assert.equal(progress.phase, "pageserver_basebackup");
    assert.ok(progress.ended);
    const last = (k: "bytesDone" | "filesDone") => progress.updates.findLast((u) => u[k] !== undefined)?.[k];
    assert.equal(last("bytesDone"), tarball.bytes);
    assert.ok((last("filesDone") ?? 0) > 100, `files ${last("filesDone")}`);
    assert.equal(ctx.metrics.has("sync_safekeepers_ms"), false);
    assert.equal(existsSync(path.join(ctx.pgdata, "standby.signal")), false);
    assert.deepEqual(result.confLines, [
      "# Neon storage settings",
      "",
      `neon.pageserver_connstring='${ps.url}'`,
      `neon.safekeepers='g#3:${sks.map((s) => s.address).join(",")}'`,
      `neon.tenant_id='${TENANT}'`,
      `neon.timeline_id='${TIMELINE}'`,
      "neon.project_id='proj-1'",
      "neon.branch_id='br-1'",
      "neon.endpoint_id='ep-1'",
      "neon.compute_mode=primary",
    ]);

    const compute = await startComputePostgres(ctx.pgdata, result.confLines);
    t.after(() => compute.stop());
    const [{ n }] = await compute.query<{ n: number }>("SELECT count(*)::int AS n FROM t");
    assert.equal(n, 100);
    const [{ tenant }] = await compute.query<{ tenant: string }>(
      "SELECT current_setting('neon.tenant_id') AS tenant",
    );
    assert.equal(tenant, TENANT);
    await compute.query("INSERT INTO t VALUES (101, 'written on the compute')");
  });

  test("Primary with unsynced safekeepers runs sync-safekeepers (retried) and fetches at the LSN it prints", async () => {
    const sks = await safekeepers([
      { flush_lsn: "0/3000100", commit_lsn: "0/3000060" },
      { flush_lsn: "0/3000100", commit_lsn: "0/3000060" },
    ]);
    const sync = makeFakeSyncSafekeepers({ lsn: "0/3000100", failFirst: 1 });
    const ps = track(await startFakePageserver({ tarGz: tarball.file, password: TOKEN }));
    const ctx = track(
      testSourceContext(
        neonSpec(ps.url, { safekeeper_connstrings: sks.map((s) => s.address) }),
        sync.binaries,
      ),
    );
    cleanups.push(() => sync.cleanup());
    const source = neonSource({ syncRetryPolicy: fast(5) });
    const result = await source.prepare(ctx);

    assert.equal(result.lsn, "0/3000100");
    assert.equal(ps.calls[0].command, `basebackup ${TENANT} ${TIMELINE} 0/3000100 --gzip`);
    const runs = sync.runs();
    assert.equal(runs.length, 2, "one injected failure, then success");
    assert.equal(runs[1].pgdata, ctx.pgdata);
    assert.equal(runs[1].token, TOKEN);
    assert.ok(ctx.metrics.has("sync_safekeepers_ms"));

    // After a primary stops, the final sync's LSN is what /terminate reports.
    const final = await source.afterShutdown?.(ctx);
    assert.equal(final, "0/3000100");
    assert.equal(sync.runs().length, 3);
  });

  test("Primary on vanilla Postgres with unreachable safekeepers fails at once with a clear message", async () => {
    const closed = await freePort();
    const ps = track(await startFakePageserver({ tarGz: tarball.file }));
    const ctx = track(
      testSourceContext(neonSpec(ps.url, { safekeeper_connstrings: [`127.0.0.1:${closed}`] })),
    );
    await assert.rejects(neonSource({ syncRetryPolicy: fast(5) }).prepare(ctx), (err: Error) => {
      assert.match(err.message, /does not support --sync-safekeepers/);
      assert.doesNotMatch(err.message, /after \d+ attempts/, "not retried");
      return true;
    });
    assert.equal(ps.calls.length, 0, "no basebackup without a start LSN");
  });

  test("dropped pageserver connections are retried", async () => {
    const ps = track(await startFakePageserver({ tarGz: tarball.file, password: TOKEN, dropFirst: 2 }));
    const ctx = track(testSourceContext(neonSpec(ps.url, { mode: "Replica" })));
    const result = await neonSource({ basebackupRetryPolicy: fast(3) }).prepare(ctx);
    assert.equal(ps.connections(), 3);
    assert.equal(ps.calls.length, 1);
    assert.equal(result.lsn, null);
    assert.equal(ps.calls[0].command, `basebackup ${TENANT} ${TIMELINE} --gzip --replica`);
    assert.equal(ps.calls[0].params.options, "-c neon.compute_mode=replica");
    assert.ok(existsSync(path.join(ctx.pgdata, "standby.signal")));
    assert.deepEqual(result.confLines.slice(-2), ["neon.compute_mode=replica", "hot_standby=on"]);
  });

  test("a pageserver ErrorResponse is retried; a lasting one fails with its message and leaves no data", async () => {
    const error = { message: `tenant ${TENANT} not found`, code: "XX000" };
    const once = track(
      await startFakePageserver({ tarGz: tarball.file, password: TOKEN, errorFirst: 1, error }),
    );
    const ctx = track(testSourceContext(neonSpec(once.url, { mode: "Replica" })));
    await neonSource({ basebackupRetryPolicy: fast(2) }).prepare(ctx);
    assert.deepEqual(
      once.calls.map((c) => c.finished),
      [false, true],
      "the error, then the whole stream",
    );
    assert.equal(ctx.metrics.get("basebackup_bytes"), tarball.bytes);

    const always = track(
      await startFakePageserver({ tarGz: tarball.file, password: TOKEN, errorFirst: 1000, error }),
    );
    const failing = track(testSourceContext(neonSpec(always.url, { mode: "Replica" })));
    await assert.rejects(neonSource({ basebackupRetryPolicy: fast(2) }).prepare(failing), (err: Error) => {
      assert.match(err.message, /basebackup from pageserver .* failed after 3 attempts/);
      assert.ok(err.message.includes(error.message), err.message);
      return true;
    });
    assert.equal(always.calls.length, 3);
    assert.deepEqual(readdirSync(failing.pgdata), [], "nothing was written");
  });

  test("a stream cut off once is retried from scratch", async () => {
    const ps = track(
      await startFakePageserver({
        tarGz: tarball.file,
        password: TOKEN,
        truncateAtBytes: Math.floor(tarball.bytes / 2),
        truncateFirst: 1,
      }),
    );
    const ctx = track(testSourceContext(neonSpec(ps.url, { mode: "Replica" })));
    await neonSource({ basebackupRetryPolicy: fast(2) }).prepare(ctx);
    assert.equal(ps.calls.length, 2);
    assert.equal(ctx.metrics.get("basebackup_bytes"), tarball.bytes);
  });

  for (const how of ["drop", "copy-done"] as const) {
    test(`a truncated stream (${how}) is an error and leaves no data to start`, async () => {
      const ps = track(
        await startFakePageserver({
          tarGz: tarball.file,
          password: TOKEN,
          truncateAtBytes: Math.floor(tarball.bytes / 2),
          truncateHow: how,
        }),
      );
      const ctx = track(testSourceContext(neonSpec(ps.url, { mode: "Replica" })));
      await assert.rejects(
        neonSource({ basebackupRetryPolicy: fast(1) }).prepare(ctx),
        /basebackup from pageserver .* failed after 2 attempts/,
      );
      assert.equal(ps.calls.length, 2);
      assert.deepEqual(readdirSync(ctx.pgdata), [], "half-extracted data was removed");
    });
  }

  test("a stream that is not gzip fails at once, even while the pageserver is still sending", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "cct-junk-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const junk = path.join(dir, "junk.bin");
    writeFileSync(junk, randomBytes(32 * 1024 * 1024));
    const ps = track(await startFakePageserver({ tarGz: junk }));
    const ctx = track(testSourceContext(neonSpec(ps.url, { mode: "Replica" })));
    await assert.rejects(
      neonSource({ basebackupRetryPolicy: fast(0) }).prepare(ctx),
      /incorrect header check/,
    );
    assert.equal(ps.calls[0].finished, false, "did not wait for the whole stream");
    assert.deepEqual(readdirSync(ctx.pgdata), []);
  });

  test("Static asks for the basebackup at its LSN and starts read-only with standby.signal and recovery_target_lsn", async (t) => {
    const ps = track(await startFakePageserver({ tarGz: tarball.file, password: TOKEN }));
    const ctx = track(testSourceContext(neonSpec(ps.url, { mode: { Static: tarball.lsn } })));
    const result = await neonSource().prepare(ctx);
    assert.equal(result.lsn, tarball.lsn.toUpperCase());
    assert.equal(
      ps.calls[0].command,
      `basebackup ${TENANT} ${TIMELINE} ${tarball.lsn.toUpperCase()} --gzip --replica`,
    );
    assert.equal(ps.calls[0].params.options, "-c neon.compute_mode=static");
    assert.ok(existsSync(path.join(ctx.pgdata, "standby.signal")));
    assert.deepEqual(result.confLines.slice(-3), [
      "neon.compute_mode=static",
      "hot_standby=on",
      `recovery_target_lsn='${tarball.lsn.toUpperCase()}'`,
    ]);

    const compute = await startComputePostgres(ctx.pgdata, result.confLines);
    t.after(() => compute.stop());
    const [{ rec, n }] = await compute.query<{ rec: boolean; n: number }>(
      "SELECT pg_is_in_recovery() AS rec, (SELECT count(*)::int FROM t) AS n",
    );
    assert.equal(rec, true);
    assert.equal(n, 100);
    await assert.rejects(compute.query("INSERT INTO t VALUES (500, 'x')"), /read-only transaction/);
  });
});
