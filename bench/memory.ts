// Memory of every process the agent starts, Postgres aside (bin/compute_ctl as shipped, running a
// compute with the metrics exporter): RSS and PSS (/proc/<pid>/smaps_rollup) of the agent and of
// any other descendant that is not Postgres, idle and while `/autoscaling_metrics` is scraped at
// about 1,000 requests/s. Reference rows in the same run: the same agent with `--no-exporter`
// (what the exporter thread costs), and a bare `node` HTTP server (Node's own floor here).
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { totalmem } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import { childPids, minimalSpec } from "../test/support/agent.js";
import { freePort } from "../test/support/ports.js";
import { tempDir } from "../test/support/postgres.js";
import type { BenchSection, SummaryRow } from "./stats.js";
import { spawnAgent } from "./support/agent-process.js";
import { type MemoryCgroup, memoryCgroup } from "./support/memory-cgroup.js";
import { benchRoot } from "./support/scratch-dirs.js";

/** Rest after `running` (and after the exporter first answered) before the idle sample. */
const REST_S = Number(process.env.BENCH_MEMORY_REST_SECONDS ?? 10);
const LOAD_S = Number(process.env.BENCH_MEMORY_LOAD_SECONDS ?? 20);
const IDLE_TARGET_MB = 80;
const LOAD_TARGET_MB = 100;

interface Mem {
  rssMb: number;
  pssMb: number;
}

interface Proc {
  pid: number;
  what: string;
}

function kb(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

function memOf(pid: number): Mem {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  return { rssMb: kb(rollup, "Rss") / 1024, pssMb: kb(rollup, "Pss") / 1024 };
}

function comm(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
}

/** The agent and every descendant that is not Postgres (a postmaster's subtree is skipped whole). */
function agentProcesses(agentPid: number): Proc[] {
  const out: Proc[] = [{ pid: agentPid, what: `agent (${comm(agentPid)})` }];
  const walk = (pid: number) => {
    for (const c of childPids(pid)) {
      let name: string;
      try {
        name = comm(c);
      } catch {
        continue;
      }
      if (name === "postgres") continue;
      out.push({
        pid: c,
        what: `${name}: ${readFileSync(`/proc/${c}/cmdline`, "utf8").replaceAll("\0", " ").trim()}`,
      });
      walk(c);
    }
  };
  walk(agentPid);
  return out;
}

function threadsOf(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).length;
}

function sum(procs: Proc[]): Mem {
  let rssMb = 0;
  let pssMb = 0;
  for (const p of procs) {
    const m = memOf(p.pid);
    rssMb += m.rssMb;
    pssMb += m.pssMb;
  }
  return { rssMb, pssMb };
}

/** Median of `n` samples a second apart (RSS moves with GC; one sample would be luck). */
async function settled(procs: () => Proc[], n = 5): Promise<Mem> {
  const rss: number[] = [];
  const pss: number[] = [];
  for (let i = 0; i < n; i++) {
    const m = sum(procs());
    rss.push(m.rssMb);
    pss.push(m.pssMb);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const mid = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return { rssMb: mid(rss), pssMb: mid(pss) };
}

async function waitOk(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface AgentRun {
  processes: string[];
  threads: number;
  idle: Mem;
  load?: { peak: Mem; end: Mem; rps: number; p99Ms: number; errors: number };
}

/** About 1,000 req/s: 10 connections, each waiting 9 ms after every answer (as bench/exporter.ts). */
async function scrapeLoad(
  url: string,
  scratch: string,
  procs: () => Proc[],
): Promise<NonNullable<AgentRun["load"]>> {
  const script = path.join(scratch, "pace.lua");
  writeFileSync(script, "function delay()\n  return 9\nend\n");
  const wrk = execa("wrk", ["-t1", "-c10", `-d${LOAD_S}s`, "--latency", "-s", script, url]);
  const peak: Mem = { rssMb: 0, pssMb: 0 };
  let running = true;
  void wrk.finally(() => {
    running = false;
  });
  while (running) {
    await new Promise((r) => setTimeout(r, 250));
    const m = sum(procs());
    peak.rssMb = Math.max(peak.rssMb, m.rssMb);
    peak.pssMb = Math.max(peak.pssMb, m.pssMb);
  }
  const out = (await wrk).stdout;
  const end = sum(procs());
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(out);
  const p99Ms = p99 ? Number(p99[1]) * (p99[2] === "us" ? 0.001 : p99[2] === "s" ? 1000 : 1) : Number.NaN;
  const errors =
    Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) +
    (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
      .exec(out)
      ?.slice(1)
      .reduce((a, b) => a + Number(b), 0) ?? 0);
  return { peak, end, rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN), p99Ms, errors };
}

async function measureAgent(
  exporter: boolean,
  scratch: string,
  cgroup: MemoryCgroup | null,
): Promise<AgentRun> {
  const root = benchRoot(exporter ? "ccb-mem-" : "ccb-memne-");
  const spec = minimalSpec({ skip_pg_catalog_updates: true });
  (spec.cluster as { postgresql_conf: string }).postgresql_conf =
    "listen_addresses = '127.0.0.1'\nfsync = off\nshared_buffers = 128MB\nmax_connections = 50";
  // BENCH_MEMORY_NODE_OPTIONS: Node/V8 flags to compare (e.g. young-generation sizes).
  const nodeOptions = process.env.BENCH_MEMORY_NODE_OPTIONS;
  const agent = await spawnAgent({
    root,
    spec,
    args: exporter ? [] : ["--no-exporter"],
    ...(nodeOptions ? { env: { NODE_OPTIONS: nodeOptions } } : {}),
    ...(cgroup ? { prefix: cgroup.prefix } : {}),
  });
  try {
    await agent.waitRunning(120_000);
    const url = `http://127.0.0.1:${agent.port}/autoscaling_metrics`;
    if (exporter) await waitOk(url, 60_000);
    agent.discardLogs();
    const pid = agent.proc.pid ?? -1;
    const procs = () => agentProcesses(pid);
    await new Promise((r) => setTimeout(r, REST_S * 1000));
    const run: AgentRun = {
      processes: procs().map((p) => p.what),
      threads: threadsOf(pid),
      idle: await settled(procs),
    };
    if (exporter) run.load = await scrapeLoad(url, scratch, procs);
    return run;
  } finally {
    await agent.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

/** A bare node:http server answering 200 "ok": Node's own footprint on this machine. */
async function bareNode(): Promise<Mem> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    ["-e", `require("node:http").createServer((q, s) => s.end("ok")).listen(${port}, "127.0.0.1")`],
    { stdio: "ignore" },
  );
  try {
    await waitOk(`http://127.0.0.1:${port}/`, 30_000);
    await new Promise((r) => setTimeout(r, 2000));
    return await settled(() => [{ pid: child.pid ?? -1, what: "node" }]);
  } finally {
    child.kill("SIGKILL");
  }
}

/** The compute size the targets are for (issue 14: the smallest compute serverless platforms sell). */
const COMPUTE_BYTES = 1024 ** 3;

/** The cgroup the verdict runs are in, or why there is none (they then run unconstrained). */
function computeCgroup(): MemoryCgroup | string {
  try {
    return memoryCgroup("ccb-mem", COMPUTE_BYTES);
  } catch (err) {
    return (err as Error).message;
  }
}

async function closeCgroup(cgroup: MemoryCgroup): Promise<void> {
  // The agent's Postgres may take a moment to leave after the agent's exit.
  for (let i = 0; ; i++) {
    try {
      return cgroup.close();
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function run(): Promise<BenchSection> {
  const scratch = tempDir("cct-bmem-");
  const cgroup = computeCgroup();
  const inCompute = typeof cgroup === "string" ? null : cgroup;
  const noCgroup = typeof cgroup === "string" ? cgroup : null;
  try {
    const withExporter = await measureAgent(true, scratch, inCompute);
    const without = await measureAgent(false, scratch, inCompute);
    const unconstrained = inCompute ? await measureAgent(true, scratch, null) : null;
    const bare = await bareNode();
    return section(withExporter, without, unconstrained, bare, noCgroup);
  } finally {
    if (inCompute) await closeCgroup(inCompute);
    rmSync(scratch, { recursive: true, force: true });
  }
}

function section(
  ours: AgentRun,
  noExporter: AgentRun,
  unconstrained: AgentRun | null,
  bare: Mem,
  noCgroup: string | null,
): BenchSection {
  const f = (n: number | undefined, d = 1) => (n === undefined || Number.isNaN(n) ? "–" : n.toFixed(d));
  const v = (ok: boolean) => (ok ? "✅" : "❌");
  const load = ours.load;
  const idleOk = ours.idle.rssMb < IDLE_TARGET_MB;
  const loadOk = load !== undefined && load.peak.rssMb < LOAD_TARGET_MB;
  const markdown = [
    `The shipped agent (\`bin/compute_ctl\`) running a compute (shared_buffers 128MB) with its metrics exporter, a worker thread of the agent, ${noCgroup ? `on this machine as it is (no 1 GB memory cgroup could be made: ${noCgroup})` : "in a memory cgroup limited to 1 GB (agent, exporter and Postgres: a 1 GB compute, the size the targets are for)"}. Node sizes V8's heap, its young generation among it, from the memory the process may use (the cgroup's limit, else the machine's RAM); no V8 flag is set, since any V8 flag on the command line makes Node refuse the compiled code it ships for its own modules (bin/compute_ctl). Processes measured: the agent and every descendant that is not Postgres (${ours.processes.length === 1 ? "there is none: the agent is the only one" : ours.processes.join("; ")}); the agent has ${ours.threads} threads (Node's, libuv's pool, the exporter's). RSS and PSS from \`/proc/<pid>/smaps_rollup\`, summed over those processes. Idle: median of 5 samples a second apart, ${REST_S} s after the exporter first answered. Under load: \`GET /autoscaling_metrics\` at about 1,000 req/s for ${LOAD_S} s (\`wrk -t1 -c10\` with a Lua \`delay()\` of 9 ms), peak of samples every 250 ms and the value at the end. Reference rows from the same run: the same agent and spec with \`--no-exporter\`, and a bare \`node\` HTTP server.`,
    "",
    "| Processes | RSS MB | PSS MB | Target | Verdict |",
    "|---|---|---|---|---|",
    `| agent + exporter thread, idle | ${f(ours.idle.rssMb)} | ${f(ours.idle.pssMb)} | < ${IDLE_TARGET_MB} MB | ${v(idleOk)} |`,
    `| agent + exporter thread, scraped at 1,000 req/s: peak | ${f(load?.peak.rssMb)} | ${f(load?.peak.pssMb)} | < ${LOAD_TARGET_MB} MB | ${v(loadOk)} |`,
    `| agent + exporter thread, scraped at 1,000 req/s: at the end | ${f(load?.end.rssMb)} | ${f(load?.end.pssMb)} | | |`,
    `| reference: agent with \`--no-exporter\`, idle | ${f(noExporter.idle.rssMb)} | ${f(noExporter.idle.pssMb)} | | |`,
    ...(unconstrained
      ? [
          `| reference: agent + exporter thread on this ${Math.round(totalmem() / 1024 ** 3)} GB machine without a cgroup, idle | ${f(unconstrained.idle.rssMb)} | ${f(unconstrained.idle.pssMb)} | | |`,
          `| reference: the same, scraped at 1,000 req/s: peak | ${f(unconstrained.load?.peak.rssMb)} | ${f(unconstrained.load?.peak.pssMb)} | | |`,
        ]
      : []),
    `| reference: bare \`node\` HTTP server, idle | ${f(bare.rssMb)} | ${f(bare.pssMb)} | | |`,
    "",
    `The load itself: ${f(load?.rps, 0)} req/s, p99 ${f(load?.p99Ms, 2)} ms, ${load?.errors ?? "–"} failed (the throughput and latency verdicts are the \`exporter\` section's).`,
  ].join("\n");
  const summary: SummaryRow[] = [
    {
      figure: `Agent + exporter RSS${noCgroup ? "" : " on a 1 GB compute"}: idle / scraped at 1,000 req/s`,
      ours: `${f(ours.idle.rssMb)} MB / ${f(load?.peak.rssMb)} MB (PSS ${f(ours.idle.pssMb)} / ${f(load?.peak.pssMb)})`,
      floor: `bare \`node\` HTTP server: ${f(bare.rssMb)} MB`,
      target: `< ${IDLE_TARGET_MB} MB / < ${LOAD_TARGET_MB} MB ${v(idleOk && loadOk)}`,
    },
  ];
  return { title: "Memory of the agent's processes", markdown, summary };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const s = await run();
  console.log(`## ${s.title}\n\n${s.markdown}`);
}
