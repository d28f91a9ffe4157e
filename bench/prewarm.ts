// Warm starts (issue 17): the first full scan of a table after a compute's cold start, without
// and with prewarm, in the same run. Two replica computes of one endpoint per round, from a
// vanilla primary holding a 48 MB table: one starts plain, the other with `autoprewarm` from the
// state a compute offloaded after reading the table (bin/endpoint-storage keeps it). Measured:
// the first `SELECT count(*)` over the table once the compute runs (and, with prewarm, once
// GET /lfc/prewarm says completed), the prewarm itself, and the share of the table resident in
// shared_buffers before the scan. The data files are in the OS page cache in both cases (the
// base backup has just written them), so this is the floor of what prewarm saves: against
// storage over a network (Neon's pageserver) a cold scan pays a round trip per page.
// Standalone: `node --import tsx bench/prewarm.ts`.
import { pathToFileURL } from "node:url";
import pg from "pg";
import { minimalSpec, type RunningAgent, startAgent } from "../test/support/agent.js";
import { startStorage } from "../test/support/endpoint-storage.js";
import { startTestPostgres } from "../test/support/postgres.js";
import { type BenchSection, fmt, summarize } from "./stats.js";

const TENANT = "b0554b632bd4d547a63b86c3630317e8";
const TIMELINE = "2414a61ffc94e428f14b5758fe308e13";
const TOKEN = "bench-endpoint-storage-token";
const ROUNDS = 5;
const CONF = "listen_addresses = '127.0.0.1'\nfsync = off\nshared_buffers = 256MB\nmax_connections = 100";

async function timedScan(agent: RunningAgent): Promise<number> {
  const c = new pg.Client({ host: "127.0.0.1", port: agent.pgPort, user: "postgres", database: "postgres" });
  await c.connect();
  try {
    await c.query("SELECT 1");
    const t0 = performance.now();
    await c.query("SELECT count(*) FROM big");
    return performance.now() - t0;
  } finally {
    await c.end();
  }
}

async function residentShare(agent: RunningAgent): Promise<number> {
  const [r] = await agent.query<{ share: number }>(
    `SELECT (SELECT count(*) FROM pg_buffercache WHERE relfilenode = pg_relation_filenode('big') AND relforknumber = 0)::float8
            / (pg_relation_size('big') / 8192) AS share`,
  );
  return r.share;
}

async function lfcState(agent: RunningAgent, op: string): Promise<Record<string, unknown>> {
  for (;;) {
    const s = (await (await agent.get(`/lfc/${op}`)).json()) as Record<string, unknown>;
    if (!["prewarming", "offloading", "not_prewarmed", "not_offloaded"].includes(s.status as string))
      return s;
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function run(): Promise<BenchSection> {
  const primary = await startTestPostgres({
    settings: { wal_level: "replica", max_wal_senders: "10" },
    hba: ["host replication all 127.0.0.1/32 trust"],
  });
  const storage = await startStorage({ token: TOKEN });
  const agents: RunningAgent[] = [];
  const spec = (autoprewarm: boolean) =>
    minimalSpec({
      mode: "Replica",
      source: { kind: "primary", connstring: primary.tcpConnstr() },
      tenant_id: TENANT,
      timeline_id: TIMELINE,
      endpoint_id: "ep-bench",
      endpoint_storage_addr: storage.addr,
      endpoint_storage_token: TOKEN,
      autoprewarm,
      cluster: { roles: [], databases: [], postgresql_conf: CONF, settings: [] },
    });
  const start = async (autoprewarm: boolean) => {
    const a = await startAgent({ spec: spec(autoprewarm), name: "bench-prewarm", args: ["--no-exporter"] });
    agents.push(a);
    await a.waitForStatus("running", 120_000);
    return a;
  };
  const stop = async (a: RunningAgent) => {
    await a.stop();
    agents.splice(agents.indexOf(a), 1);
  };
  try {
    await primary.query("CREATE EXTENSION pg_buffercache");
    await primary.query("CREATE EXTENSION pg_prewarm");
    await primary.query(
      "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 4) AS pad FROM generate_series(1, 300000) g",
    );
    await primary.query("CHECKPOINT");
    const [{ mb }] = await primary.query<{ mb: number }>(
      "SELECT (pg_relation_size('big') / 1048576.0)::float8 AS mb",
    );

    // The state to prewarm from: a compute that has read the table.
    const source = await start(false);
    await source.query("SELECT count(*) FROM big");
    await source.post("/lfc/offload");
    const offload = await lfcState(source, "offload");
    if (offload.status !== "completed") throw new Error(`offload: ${JSON.stringify(offload)}`);
    await stop(source);

    const cold: number[] = [];
    const warm: number[] = [];
    const hot: number[] = [];
    const prewarmMs: number[] = [];
    const coldShare: number[] = [];
    const warmShare: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const plain = await start(false);
      coldShare.push(await residentShare(plain));
      cold.push(await timedScan(plain));
      hot.push(await timedScan(plain));
      await stop(plain);

      const prewarmed = await start(true);
      const done = await lfcState(prewarmed, "prewarm");
      if (done.status !== "completed") throw new Error(`prewarm: ${JSON.stringify(done)}`);
      prewarmMs.push(done.prewarm_time_ms as number);
      warmShare.push(await residentShare(prewarmed));
      warm.push(await timedScan(prewarmed));
      await stop(prewarmed);
    }
    const c = summarize(cold);
    const w = summarize(warm);
    const pct = (xs: number[]) => `${(summarize(xs).median * 100).toFixed(0)}%`;
    return {
      title: "Warm start: first full scan after a cold start, with and without prewarm",
      summary: [
        {
          figure: "First full scan after a cold start, with prewarm",
          ours: `${w.median.toFixed(0)} ms`,
          floor: `without prewarm: ${c.median.toFixed(0)} ms; everything cached: ${summarize(hot).median.toFixed(0)} ms`,
          target: "(informative)",
        },
      ],
      markdown: [
        `Replica computes (shared_buffers 256 MB) of one endpoint from a vanilla primary with a ${mb.toFixed(0)} MB table;`,
        `${ROUNDS} rounds, each starting one compute plainly and one with \`autoprewarm\` (state offloaded`,
        "by a compute that had read the table, kept by `bin/endpoint-storage`). The scan is the first",
        "`SELECT count(*) FROM big` on a fresh connection. The data files are in the OS page cache in",
        "both cases (the base backup just wrote them): this is the floor of the gain; storage over a",
        "network makes a cold scan far slower.",
        "",
        "| Figure (median) | Without prewarm | With prewarm |",
        "|---|---|---|",
        `| Table resident in shared_buffers before the scan | ${pct(coldShare)} | ${pct(warmShare)} |`,
        `| First full scan | ${fmt(c)} | ${fmt(w)} (${((1 - w.median / c.median) * 100).toFixed(0)}% less) |`,
        `| Second scan (everything cached, the floor) | ${fmt(summarize(hot))} | |`,
        `| Prewarm (\`prewarm_time_ms\`, after \`running\`) | | ${fmt(summarize(prewarmMs))} |`,
      ].join("\n"),
    };
  } finally {
    for (const a of agents.splice(0)) await a.stop();
    await storage.stop();
    await primary.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  run().then((s) => console.log(`## ${s.title}\n\n${s.markdown}`));
}
