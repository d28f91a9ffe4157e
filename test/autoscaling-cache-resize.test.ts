// The vm-monitor's cache resizing against a real Postgres 15 (no neon extension): approved
// up/downscales change effective_cache_size as SHOW reports it; when nothing may be changed the
// agent's reply says why. Driven by a protocol-level fake autoscaler-agent.
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { startVmMonitor } from "../src/autoscaling/index.js";
import { FakeAutoscalerAgent } from "./support/fake-autoscaler-agent.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("vm-monitor cache resizing on vanilla Postgres (protocol-level fake autoscaler-agent)", () => {
  let pg: TestPostgres;
  let cgroupDir: string;

  before(async () => {
    pg = await startTestPostgres();
    cgroupDir = mkdtempSync(path.join(os.tmpdir(), "cct-cgroup-"));
    // 50 MiB of non-reclaimable memory: every downscale below passes the threshold check.
    writeFileSync(
      path.join(cgroupDir, "memory.stat.tmp"),
      `active_anon ${30 * MiB}\ninactive_anon ${20 * MiB}\n`,
    );
    renameSync(path.join(cgroupDir, "memory.stat.tmp"), path.join(cgroupDir, "memory.stat"));
  });

  after(async () => {
    await pg?.stop();
    rmSync(cgroupDir, { recursive: true, force: true });
  });

  /** SHOW from a new session, polled: pg_reload_conf() reaches new backends asynchronously. */
  async function showEventually(setting: string, expected: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    let last = "";
    while (Date.now() < deadline) {
      last = String((await pg.query(`SHOW ${setting}`))[0]?.[setting]);
      if (last === expected) return;
      await sleep(50);
    }
    assert.equal(last, expected, `SHOW ${setting}`);
  }

  async function withAgent(
    disableLfcResizing: boolean,
    fn: (agent: FakeAutoscalerAgent) => Promise<void>,
  ): Promise<void> {
    const monitor = await startVmMonitor({
      addr: "127.0.0.1:0",
      cgroup: cgroupDir,
      connstr: pg.connstr(),
      disableLfcResizing,
      log,
      totalMemoryBytes: 8 * GiB,
    });
    let agent: FakeAutoscalerAgent | undefined;
    try {
      agent = await FakeAutoscalerAgent.connect(`ws://127.0.0.1:${monitor.port}/monitor`);
      await fn(agent);
    } finally {
      await agent?.close();
      await monitor.close();
    }
  }

  test("approved upscale and downscale change effective_cache_size (shared_buffers + Neon's cache size)", async () => {
    const [sb] = await pg.query<{ shared_buffers: string }>("SHOW shared_buffers");
    assert.equal(sb?.shared_buffers, "128MB");
    await withAgent(false, async (agent) => {
      // On connect: cache size for the whole 8 GiB machine: min((8192-256)/1.1, 0.75 x 8192) = 6144 MiB.
      await showEventually("effective_cache_size", `${128 + 6144}MB`);
      const apps = await pg.query(
        "SELECT 1 FROM pg_stat_activity WHERE application_name = 'compute_ctl:vm-monitor'",
      );
      assert.equal(apps.length, 1, "one monitor session, named compute_ctl:vm-monitor");

      // Upscale to 2 GiB: usable 1948 MiB -> cache 1461 MiB.
      assert.equal((await agent.upscaleNotification({ cpu: 0.5, mem: 2 * GiB })).type, "UpscaleConfirmation");
      await showEventually("effective_cache_size", `${128 + 1461}MB`);

      // Downscale to 1 GiB: usable 924 MiB -> cache 607 MiB; threshold 785.4 MiB >= 50 + 100.
      const result = await agent.downscaleRequestWhenSampled({ cpu: 0.25, mem: GiB });
      assert.equal(result.type, "DownscaleResult");
      assert.equal(result.Ok, true);
      assert.match(
        String(result.Status),
        /^set effective_cache_size to 735 MiB \(shared_buffers 128 MiB \+ /,
      );
      assert.match(
        String(result.Status),
        /; set cgroup memory threshold from 1655\.8 MiB to 785\.4 MiB, of new total 924 MiB$/,
      );
      await showEventually("effective_cache_size", `${128 + 607}MB`);
      assert.deepEqual(agent.violations, []);
    });
  });

  test("disable_lfc_resizing: nothing changes and the reply says why", async () => {
    const before = String((await pg.query("SHOW effective_cache_size"))[0]?.effective_cache_size);
    await withAgent(true, async (agent) => {
      assert.equal((await agent.upscaleNotification({ cpu: 1, mem: 4 * GiB })).type, "UpscaleConfirmation");
      const result = await agent.downscaleRequestWhenSampled({ cpu: 0.5, mem: 2 * GiB });
      assert.equal(result.Ok, true);
      assert.match(String(result.Status), /^file cache not resized: .*disable_lfc_resizing/);
    });
    await sleep(300);
    assert.equal(String((await pg.query("SHOW effective_cache_size"))[0]?.effective_cache_size), before);
  });

  test("an effective_cache_size set explicitly in postgresql.conf is left alone, with the reason", async () => {
    await pg.query("ALTER SYSTEM RESET effective_cache_size");
    appendFileSync(path.join(pg.pgdata, "postgresql.conf"), "\neffective_cache_size = '3GB'\n");
    await pg.query("SELECT pg_reload_conf()");
    await showEventually("effective_cache_size", "3GB");
    await withAgent(false, async (agent) => {
      assert.equal((await agent.upscaleNotification({ cpu: 1, mem: 4 * GiB })).type, "UpscaleConfirmation");
      const result = await agent.downscaleRequestWhenSampled({ cpu: 0.5, mem: 2 * GiB });
      assert.equal(result.Ok, true);
      assert.match(
        String(result.Status),
        /^file cache not resized: effective_cache_size is set explicitly in .*postgresql\.conf; leaving it alone; /,
      );
    });
    await sleep(300);
    assert.equal(String((await pg.query("SHOW effective_cache_size"))[0]?.effective_cache_size), "3GB");
  });
});
