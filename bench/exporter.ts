// GET /autoscaling_metrics of the real agent (bin/compute_ctl as shipped, running a compute: its
// REST server, request id, URL parsing, per-request log line, the forwarder, the exporter thread
// that also serves the Unix socket in PGDATA) under load, against Debian's prometheus-sql-exporter serving
// the same queries (jobs refreshed every 5 s) and prometheus-postgres-exporter (queries per
// scrape), all on the agent's Postgres in the same run: maximum requests/s at 50 connections
// (wrk), p50/p99 at a fixed 1,000 requests/s (wrk with a paced script), and CPU and memory of the
// serving processes when scraped every 5 s.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import pg from "pg";
import { VANILLA_SQL } from "../src/exporter/autoscaling-source.js";
import { minimalSpec } from "../test/support/agent.js";
import { freePort } from "../test/support/ports.js";
import { tempDir } from "../test/support/postgres.js";
import type { BenchSection, SummaryRow } from "./stats.js";
import { type AgentProcess, spawnAgent } from "./support/agent-process.js";
import { benchRoot } from "./support/scratch-dirs.js";

const DURATION_S = Number(process.env.BENCH_EXPORTER_SECONDS ?? 10);
const CPU_WINDOW_S = Number(process.env.BENCH_EXPORTER_CPU_SECONDS ?? 60);

interface Load {
  rps: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

interface Target {
  name: string;
  url: string;
  /** The processes serving it (CPU and RSS are summed over them). */
  pids: number[];
  /** What it does per request. */
  perRequest: string;
  freshness: string;
  bodyBytes?: number;
  max?: Load;
  fixed?: Load;
  cpuPct?: number;
  rssMb?: number;
}

function ms(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "ms" ? v : m[2] === "s" ? v * 1000 : v * 60_000;
}

function parseWrk(out: string): Load {
  const pick = (re: RegExp) => re.exec(out)?.[1] ?? "";
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(pick(/Requests\/sec:\s+([\d.]+)/)),
    meanMs: ms(pick(/Latency\s+(\S+)/)),
    p50Ms: ms(pick(/^\s+50%\s+(\S+)\s*$/m)),
    p99Ms: ms(pick(/^\s+99%\s+(\S+)\s*$/m)),
    errors:
      Number(pick(/Non-2xx or 3xx responses: (\d+)/) || 0) +
      (socketErrors?.slice(1).reduce((a, b) => a + Number(b), 0) ?? 0),
  };
}

/** As many requests as 50 keep-alive connections get answered. */
async function wrkMax(url: string): Promise<Load> {
  return parseWrk((await execa("wrk", ["-t2", "-c50", `-d${DURATION_S}s`, "--latency", url])).stdout);
}

/**
 * About 1,000 requests/s: 10 connections, each waiting 9 ms after every answer (wrk's Lua
 * `delay` hook), so the server is never saturated and the latencies are its own.
 */
async function wrkFixedRate(url: string, scratch: string): Promise<Load> {
  const script = path.join(scratch, "pace.lua");
  writeFileSync(script, "function delay()\n  return 9\nend\n");
  return parseWrk(
    (await execa("wrk", ["-t1", "-c10", `-d${DURATION_S}s`, "--latency", "-s", script, url])).stdout,
  );
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100/s)
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function get(url: string): Promise<{ status: number; bytes: number }> {
  const res = await fetch(url);
  const body = await res.arrayBuffer();
  return { status: res.status, bytes: body.byteLength };
}

async function waitHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await get(url)).status === 200) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function sqlExporterConfig(tcpConnstr: string): string {
  const dsn = `${tcpConnstr.replace(/^postgresql:/, "postgres:")}?sslmode=disable`;
  const indent = (sql: string) =>
    sql
      .split("\n")
      .map((l) => `      ${l}`)
      .join("\n");
  return `---
jobs:
- name: "autoscaling"
  interval: '5s'
  connections:
  - '${dsn}'
  queries:
  - name: "lfc"
    help: "the autoscaling counters, same SQL as the exporter's vanilla source"
    values: ["cache_size_limit", "hits", "misses", "writes"]
    query: |
${indent(VANILLA_SQL)}
  - name: "lfc_used"
    help: "occupied shared buffers in 1MB chunks"
    values: ["used"]
    query: |
      SELECT ceil(count(*) * 8192 / 1048576.0) AS used FROM public.pg_buffercache WHERE relfilenode IS NOT NULL
  - name: "lfc_approximate_working_set_size_windows"
    help: "60 window series (SQL cannot estimate them on vanilla Postgres: constant stand-in for the body shape)"
    labels: ["duration_seconds"]
    values: ["size"]
    query: |
      SELECT x::text AS duration_seconds, 0 AS size FROM generate_series(60, 3600, 60) x
`;
}

function startPeer(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(cmd, args, { stdio: "ignore", env: { ...process.env, ...env } });
}

async function available(cmd: string): Promise<boolean> {
  return (await execa("sh", ["-c", `command -v ${cmd}`], { reject: false })).exitCode === 0;
}

/** wrk and the two peers are Debian packages: installed when missing (the machines are fresh). */
async function ensureTools(): Promise<void> {
  const need = [
    ["wrk", "wrk"],
    ["prometheus-sql-exporter", "prometheus-sql-exporter"],
    ["prometheus-postgres-exporter", "prometheus-postgres-exporter"],
  ];
  const missing: string[] = [];
  for (const [cmd, pkg] of need) if (!(await available(cmd))) missing.push(pkg);
  if (!missing.length) return;
  console.error(`bench exporter: installing ${missing.join(" ")}`);
  const install = () =>
    execa("apt-get", ["install", "-y", "-q", ...missing], {
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdio: "inherit",
    });
  try {
    await install();
  } catch {
    // A fresh machine may have no package lists yet.
    await execa("apt-get", ["update", "-q"], { stdio: "inherit" });
    await install();
  }
}

export async function run(): Promise<BenchSection> {
  await ensureTools();
  const notes: string[] = [];
  const loadBefore = os.loadavg()[0].toFixed(1);
  const root = benchRoot("ccb-exp-");
  const scratch = tempDir("cct-bexp-");
  const children: ChildProcess[] = [];
  let agent: AgentProcess | null = null;
  try {
    const spec = minimalSpec({ skip_pg_catalog_updates: true });
    (spec.cluster as { postgresql_conf: string }).postgresql_conf =
      "listen_addresses = '127.0.0.1'\nfsync = off\nshared_buffers = 128MB\nmax_connections = 50";
    agent = await spawnAgent({ root, spec });
    await agent.waitRunning(120_000);
    const tcpConnstr = `postgresql://postgres@127.0.0.1:${agent.pgPort}/postgres`;
    // A little data in shared buffers, so the working-set sampler has real work to do.
    const client = new pg.Client({ connectionString: tcpConnstr });
    await client.connect();
    await client.query(`CREATE TABLE bench AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 200000) g;
      SET enable_seqscan = off; SELECT count(*) FROM bench WHERE ctid < '(1000000,0)'::tid`);
    await client.end();
    const ours: Target = {
      name: "ours: agent `/autoscaling_metrics` (bin/compute_ctl) -> exporter thread",
      url: `http://127.0.0.1:${agent.port}/autoscaling_metrics`,
      pids: [],
      perRequest:
        "agent: parse the URL, route, request id, access checks (none configured), ask the exporter thread for its answer (families, over the worker's message port) unless an answer the exporter marked fresh is reused, render it once per answer, one JSON log line; exporter: answer from its cached collection",
      freshness: "TTL 1 s (collected on demand)",
    };
    await waitHttp(ours.url, 60_000);
    // The exporter is a thread of the agent: one process serves.
    ours.pids = [agent.proc.pid ?? -1];
    // The agent logs every request: read and drop its log from here on, as a collector would.
    agent.discardLogs();
    const targets: Target[] = [ours];

    if (await available("prometheus-sql-exporter")) {
      const cfg = path.join(scratch, "sql-exporter.yml");
      writeFileSync(cfg, sqlExporterConfig(tcpConnstr));
      const port = await freePort();
      const p = startPeer("prometheus-sql-exporter", [
        "-config.file",
        cfg,
        "-web.listen-address",
        `127.0.0.1:${port}`,
      ]);
      children.push(p);
      targets.push({
        name: "prometheus-sql-exporter (Debian)",
        url: `http://127.0.0.1:${port}/metrics`,
        pids: p.pid ? [p.pid] : [],
        perRequest:
          "render the text exposition of its jobs' last results (the same autoscaling queries, run every 5 s)",
        freshness: "job every 5 s",
      });
    } else {
      notes.push(
        "prometheus-sql-exporter is not installed (`apt-get install prometheus-sql-exporter`): not measured",
      );
    }
    if (await available("prometheus-postgres-exporter")) {
      const port = await freePort();
      const p = startPeer("prometheus-postgres-exporter", [`--web.listen-address=127.0.0.1:${port}`], {
        DATA_SOURCE_NAME: `${tcpConnstr}?sslmode=disable`,
      });
      children.push(p);
      targets.push({
        name: "prometheus-postgres-exporter (Debian)",
        url: `http://127.0.0.1:${port}/metrics`,
        pids: p.pid ? [p.pid] : [],
        perRequest: "run its default queries against Postgres, render them",
        freshness: "queries per scrape",
      });
    } else {
      notes.push(
        "prometheus-postgres-exporter is not installed (`apt-get install prometheus-postgres-exporter`): not measured",
      );
    }
    for (const t of targets) {
      await waitHttp(t.url, 30_000);
      t.bodyBytes = (await get(t.url)).bytes;
    }
    // Give the sql-exporter's first job run time to fill its results.
    await new Promise((r) => setTimeout(r, 6000));

    for (const t of targets) t.max = await wrkMax(t.url);
    for (const t of targets) t.fixed = await wrkFixedRate(t.url, scratch);

    // CPU when scraped every 5 s, all targets in the same window.
    const ticks = (t: Target) => t.pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
    const start = new Map(targets.map((t) => [t, ticks(t)]));
    const began = Date.now();
    while (Date.now() - began < CPU_WINDOW_S * 1000) {
      await Promise.all(targets.map((t) => get(t.url)));
      await new Promise((r) => setTimeout(r, 5000));
    }
    const elapsedS = (Date.now() - began) / 1000;
    for (const t of targets) {
      if (!t.pids.length) continue;
      t.cpuPct = ((ticks(t) - (start.get(t) ?? 0)) / 100 / elapsedS) * 100;
      t.rssMb = t.pids.reduce((sum, pid) => sum + rssMb(pid), 0);
    }
    return section(targets, notes, loadBefore, os.loadavg()[0].toFixed(1));
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await agent?.stop();
    rmSync(root, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
}

function section(targets: Target[], notes: string[], loadBefore: string, loadAfter: string): BenchSection {
  const f = (n: number | undefined, d = 1) => (n === undefined || Number.isNaN(n) ? "–" : n.toFixed(d));
  const ours = targets[0];
  const sql = targets.find((t) => t.name.startsWith("prometheus-sql-exporter"));
  const rows = targets.map(
    (t) =>
      `| ${t.name} | ${f(t.max?.rps, 0)} | ${f(t.max?.meanMs, 2)} / ${f(t.max?.p99Ms, 2)} | ${f(t.fixed?.rps, 0)} | ${f(t.fixed?.p50Ms, 2)} / ${f(t.fixed?.p99Ms, 2)} | ${(t.max?.errors ?? 0) + (t.fixed?.errors ?? 0)} | ${t.bodyBytes ?? "–"} | ${t.freshness} | ${f(t.cpuPct, 2)} | ${f(t.rssMb, 0)} |`,
  );
  const ratio = sql?.max && ours.max ? ours.max.rps / sql.max.rps : Number.NaN;
  const checks = [
    `| Max req/s at 50 connections >= 2x prometheus-sql-exporter | ${Number.isNaN(ratio) ? "peer not measured" : `${ratio.toFixed(2)}x`} | ${Number.isNaN(ratio) ? "–" : ratio >= 2 ? "✅" : "❌"} |`,
    `| p99 < 10 ms at 1,000 req/s | ${f(ours.fixed?.p99Ms, 2)} ms | ${(ours.fixed?.p99Ms ?? 99) < 10 ? "✅" : "❌"} |`,
    `| Agent + exporter CPU < 1% of a core, scraped every 5 s | ${f(ours.cpuPct, 2)}% | ${(ours.cpuPct ?? 99) < 1 ? "✅" : "❌"} |`,
    `| No failed requests | ${(ours.max?.errors ?? 0) + (ours.fixed?.errors ?? 0)} | ${(ours.max?.errors ?? 0) + (ours.fixed?.errors ?? 0) === 0 ? "✅" : "❌"} |`,
  ];
  const markdown = [
    `The agent's own Postgres (shared_buffers 128MB, 200k-row table read into it) serves every target, same run. Max: \`wrk -t2 -c50 -d${DURATION_S}s\`. Fixed rate: \`wrk -t1 -c10 -d${DURATION_S}s\` with a Lua \`delay()\` of 9 ms per connection (about 1,000 req/s, never saturating). CPU and RSS of the serving processes over ${CPU_WINDOW_S} s while scraped every 5 s (ours: the agent process, its exporter thread included, with the exporter's pg_buffercache sampling every 2 s). 2-core machine shared with the load generator; load average ${loadBefore} before the run, ${loadAfter} after (tails grow with it).`,
    "",
    "What each side does per request:",
    "",
    ...targets.map((t) => `- ${t.name}: ${t.perRequest}.`),
    "",
    "| Target | Max req/s (50 conn) | mean / p99 ms at max | Fixed: req/s | p50 / p99 ms at 1,000 req/s | Failed | Body bytes | Freshness | CPU % at 5 s scrapes | RSS MB |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    "| Target | Ours | Verdict |",
    "|---|---|---|",
    ...checks,
    ...(notes.length ? ["", ...notes.map((n) => `- ${n}`)] : []),
  ].join("\n");
  const summary: SummaryRow[] = [
    {
      figure: "`/autoscaling_metrics` of the agent, 50 connections",
      ours: `${f(ours.max?.rps, 0)} req/s, p99 ${f(ours.fixed?.p99Ms, 2)} ms at 1,000 req/s`,
      floor: sql?.max
        ? `prometheus-sql-exporter: ${f(sql.max.rps, 0)} req/s (${sql.bodyBytes} vs our ${ours.bodyBytes} bytes)`
        : "prometheus-sql-exporter: not measured",
      target: `>= 2x, p99 < 10 ms ${ratio >= 2 && (ours.fixed?.p99Ms ?? 99) < 10 ? "✅" : "❌"}`,
    },
  ];
  return { title: "Autoscaling metrics endpoint", markdown, summary };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const s = await run();
  console.log(`## ${s.title}\n\n${s.markdown}`);
}
