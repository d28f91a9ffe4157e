// The agent's own cost: exec -> first answered GET /healthz (no spec) against a bare Node HTTP
// server doing the same (the port's bind, which comes earlier, is a detail row), idle RSS and CPU of a running compute's agent (its exporter thread
// included; bench/memory.ts has every process, RSS and PSS, idle and under load), what the agent's static imports cost, and how late readiness is detected
// after Postgres writes `ready` into postmaster.pid.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { EXPORTER_THREAD_NAME } from "../src/exporter/thread-protocol.js";
import { waitForReady } from "../src/postgres/readiness.js";
import { REPO } from "../test/support/agent.js";
import { freePort } from "../test/support/ports.js";
import { type BenchSection, fmt, median, type Stats, type SummaryRow, summarize } from "./stats.js";
import { agentBin, spawnAgent } from "./support/agent-process.js";
import { exampleSpec } from "./support/example-spec.js";
import {
  configFiles,
  killPostgres,
  pgBinaries,
  pgOsUser,
  plainCopy,
  stopPostgresFast,
  writeConfig,
} from "./support/floor-cluster.js";
import { interleave, verdict } from "./support/interleave.js";
import { benchRoot, templateDataDir } from "./support/scratch-dirs.js";

const RUNS = Number(process.env.BENCH_AGENT_START_RUNS ?? 10);
// Idle CPU is the agent's cost while a compute sits idle for minutes: sampled once the start-up
// tail is over (V8's post-start garbage collections by its memory reducer, which run some 8-25 s
// after start, and the compilation of the code the periodic work runs). The window the bench
// used before (10 s after 3 s of rest) holds that tail: kept as a detail row.
const IDLE_SETTLE_S = Number(process.env.BENCH_IDLE_SETTLE_SECONDS ?? 30);
const IDLE_SAMPLE_S = Number(process.env.BENCH_IDLE_SECONDS ?? 30);
const EARLY_REST_S = 3;
const EARLY_SAMPLE_S = 10;
const CLK_TCK = 100;

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Time from spawn until the port accepted a TCP connection, per kind of process (detail row). */
const accepting: Record<"ours" | "node", number[]> = { ours: [], node: [] };

/**
 * ms from spawn until a GET /healthz is answered: `port` is tried every 1 ms until it accepts a
 * TCP connection (that time is kept in `accepting`), then a GET /healthz is sent at once and its
 * answer awaited (the agent binds its port before it has loaded; the request waits for it).
 */
async function timeToAccept(start: () => ChildProcess, port: number, kind: "ours" | "node"): Promise<number> {
  const t0 = performance.now();
  const child = start();
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    while (!(await canConnect(port))) {
      if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before listening`);
      await new Promise((r) => setTimeout(r, 1));
    }
    accepting[kind].push(performance.now() - t0);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`GET /healthz answered ${res.status}`);
    return performance.now() - t0;
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

async function agentStart(root: string): Promise<number> {
  const dir = benchRoot("start-", root);
  const socketDir = mkdtempSync(path.join(os.tmpdir(), "ccb-sock-"));
  const port = await freePort();
  const args = [
    "-D",
    path.join(dir, "pgdata"),
    "-C",
    `postgresql://postgres@127.0.0.1:${await freePort()}/postgres`,
    "--http-host",
    "127.0.0.1",
    "--external-http-port",
    String(port),
    "--internal-http-port",
    String(await freePort()),
    "--grpc-port",
    String(await freePort()),
    "--grpc-socket",
    // Not in `dir`, which belongs to the Postgres user: the agent refuses a socket directory
    // owned by someone else.
    path.join(socketDir, "grpc.sock"),
    "--exit-grace-s",
    "0",
  ];
  try {
    return await timeToAccept(() => spawn(agentBin(), args, { stdio: "ignore" }), port, "ours");
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(socketDir, { recursive: true, force: true });
  }
}

async function bareNodeStart(): Promise<number> {
  const port = await freePort();
  const code = `require("node:http").createServer((q, s) => s.end()).listen(${port}, "127.0.0.1")`;
  return timeToAccept(() => spawn(process.execPath, ["-e", code], { stdio: "ignore" }), port, "node");
}

interface ProcSample {
  /** performance.now() when taken. */
  at: number;
  /** utime + stime of the whole process (every thread, live or exited), in clock ticks. */
  cpuTicks: number;
  rssKb: number;
  /** ns on a CPU (schedstat) of the live threads, by kind. */
  threadNs: Record<ThreadKind, number>;
}

type ThreadKind = "main" | "exporter" | "helpers";

/** On-CPU ns of one thread (schedstat), 0 when it exited meanwhile. */
function threadNs(pid: number, tid: string): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
  } catch {
    return 0;
  }
}

function threadKind(pid: number, tid: string): ThreadKind {
  if (tid === String(pid)) return "main";
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim() === EXPORTER_THREAD_NAME
      ? "exporter"
      : "helpers";
  } catch {
    return "helpers";
  }
}

function sample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  const byKind: Record<ThreadKind, number> = { main: 0, exporter: 0, helpers: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) byKind[threadKind(pid, tid)] += threadNs(pid, tid);
  return {
    at: performance.now(),
    cpuTicks: Number(f[11]) + Number(f[12]),
    rssKb: Number(rss?.[1] ?? 0),
    threadNs: byKind,
  };
}

/** % of one core between two samples: the process's ticks, and each kind of thread's ns. */
function cpuBetween(a: ProcSample, b: ProcSample): { total: number } & Record<ThreadKind, number> {
  const s = (b.at - a.at) / 1000;
  const pct = (k: ThreadKind) => ((b.threadNs[k] - a.threadNs[k]) / 1e9 / s) * 100;
  return {
    total: ((b.cpuTicks - a.cpuTicks) / CLK_TCK / s) * 100,
    main: pct("main"),
    exporter: pct("exporter"),
    helpers: pct("helpers"),
  };
}

/** utime + stime ticks of a single-threaded process (a Postgres backend), 0 once it is gone. */
function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** The Postgres backends of the agent's own sessions (application_name `compute_ctl:...`). */
async function agentBackends(pgPort: number): Promise<{ pid: number; app: string }[]> {
  const c = new pg.Client({ host: "127.0.0.1", port: pgPort, user: "postgres", database: "postgres" });
  await c.connect();
  try {
    const r = await c.query<{ pid: number; app: string }>(
      "SELECT pid, application_name AS app FROM pg_catalog.pg_stat_activity WHERE application_name LIKE 'compute\\_ctl:%' ORDER BY 2",
    );
    return r.rows;
  } finally {
    await c.end();
  }
}

interface Idle {
  agentRssMb: number;
  /** % of a core of the backends serving the agent's sessions over the settled window, by session. */
  backends: { app: string; pct: number }[];
  /** Settled: from IDLE_SETTLE_S after `running`, over IDLE_SAMPLE_S. */
  cpu: ReturnType<typeof cpuBetween>;
  /** The first EARLY_SAMPLE_S after EARLY_REST_S of rest: the start-up tail is in it. */
  earlyCpuPct: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function idleFootprint(root: string): Promise<Idle> {
  const dir = benchRoot("idle-", root);
  const agent = await spawnAgent({
    root: dir,
    spec: exampleSpec().json,
    args: ["--cache-dir", path.join(root, "cache")],
  });
  try {
    await agent.waitRunning();
    const running = performance.now();
    const pid = agent.proc.pid ?? -1;
    const until = async (s: number) => {
      await sleep(Math.max(0, running + s * 1000 - performance.now()));
      return sample(pid);
    };
    const early0 = await until(EARLY_REST_S);
    const early1 = await until(EARLY_REST_S + EARLY_SAMPLE_S);
    // Looked up before the window, so the bench's own session is gone by then.
    const backends = await agentBackends(agent.pgPort);
    const before = await until(IDLE_SETTLE_S);
    const backendsBefore = backends.map((b) => processTicks(b.pid));
    const after = await until(IDLE_SETTLE_S + IDLE_SAMPLE_S);
    const windowS = (after.at - before.at) / 1000;
    return {
      agentRssMb: after.rssKb / 1024,
      backends: backends.map((b, i) => ({
        app: b.app,
        pct: ((processTicks(b.pid) - backendsBefore[i]) / CLK_TCK / windowS) * 100,
      })),
      cpu: cpuBetween(before, after),
      earlyCpuPct: cpuBetween(early0, early1).total,
    };
  } finally {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** ms a fresh Node process spends importing `specifier` (resolved from the repository). */
async function importCost(specifier: string): Promise<number> {
  const code = `const t=performance.now();import(${JSON.stringify(specifier)}).then(()=>process.stdout.write(String(performance.now()-t)))`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  await new Promise((r) => child.once("exit", r));
  return Number(out);
}

async function importCosts(): Promise<[string, Stats][]> {
  const specs = ["pino", "pg", "valibot", "execa"];
  const res: [string, Stats][] = [];
  for (const s of specs) {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) samples.push(await importCost(s));
    res.push([s, summarize(samples)]);
  }
  return res;
}

/** ms between Postgres writing `ready` (postmaster.pid mtime) and waitForReady resolving. */
async function readinessLatency(root: string, template: string): Promise<number> {
  const pgdata = path.join(root, "ready-pgdata");
  rmSync(pgdata, { recursive: true, force: true });
  await plainCopy(template, pgdata);
  await writeConfig(pgdata, configFiles(exampleSpec(), await freePort()));
  const child = spawn(pgBinaries.postgres, ["-D", pgdata], {
    ...(pgOsUser ? { uid: pgOsUser.uid, gid: pgOsUser.gid } : {}),
    stdio: "ignore",
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    await waitForReady({ pgdata, timeoutMs: 60_000, exited, describeExit: () => "postgres exited" });
    const detectedNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    const written = statSync(path.join(pgdata, "postmaster.pid"), { bigint: true }).mtimeNs;
    return Number(detectedNs - written) / 1e6;
  } finally {
    await stopPostgresFast(pgdata).catch(() => killPostgres(pgdata));
    rmSync(pgdata, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchSection> {
  const root = benchRoot("ccb-agent-");
  try {
    const start = await interleave({ ours: () => agentStart(root), node: bareNodeStart }, { runs: RUNS });
    const idle = await idleFootprint(root);
    const template = templateDataDir(path.join(root, "cache"));
    const ready: number[] = [];
    for (let i = 0; i < 7; i++) ready.push(await readinessLatency(root, template));
    const imports = await importCosts();
    return section(start, idle, summarize(ready), imports);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function section(
  start: Record<"ours" | "node", Stats>,
  idle: Idle,
  ready: Stats,
  imports: [string, Stats][],
): BenchSection {
  const startOk = start.ours.median < 150;
  const rssOk = idle.agentRssMb < 80;
  const cpuOk = idle.cpu.total < 1;
  const readyOk = ready.median < 10;
  const markdown = [
    "Start: exec of `bin/compute_ctl` (no spec) until its first answered `GET /healthz`: the external HTTP port is tried every 1 ms and the request is sent as soon as it accepts a connection; the agent binds its REST ports before it loads the rest of itself, so that request waits for the loaded agent. The floor does the same against a bare `node` HTTP server; the time until the port accepted is a detail row. Idle: a running compute from the example spec, activity monitor on, nobody asking for `/ready` or scraping; " +
      `CPU from /proc utime+stime of the agent process (every thread) over ${IDLE_SAMPLE_S} s, starting ${IDLE_SETTLE_S} s after \`running\` (once the start-up tail is over: V8's post-start garbage collections and compilation); per thread from /proc/<pid>/task/<tid>/schedstat (the exporter thread names itself \`${EXPORTER_THREAD_NAME}\`); the first ${EARLY_SAMPLE_S} s after ${EARLY_REST_S} s of rest, which hold that tail, as a detail row; and, not counted in the figure, the Postgres backends serving the agent's own sessions over the settled window (what the agent's periodic queries cost Postgres). Readiness: time from Postgres writing \`ready\` into postmaster.pid (its mtime) until \`waitForReady\` resolved.`,
    "",
    "| Case | Ours | Floor | Target | Verdict |",
    "|---|---|---|---|---|",
    `| Agent start, exec -> first \`/healthz\` answered | ${fmt(start.ours)} | bare \`node\` HTTP server: ${fmt(start.node)} | < 150 ms | ${verdict(startOk)} |`,
    `| (detail) exec -> port accepting connections | ${fmt(summarize(accepting.ours))} | bare \`node\` HTTP server: ${fmt(summarize(accepting.node))} | | |`,
    `| Agent idle RSS (its exporter thread included) | ${idle.agentRssMb.toFixed(1)} MB | | < 80 MB | ${verdict(rssOk)} |`,
    `| Agent idle CPU (its exporter thread included), settled | ${idle.cpu.total.toFixed(2)}% of a core | | < 1% | ${verdict(cpuOk)} |`,
    `| (detail) idle CPU by thread, settled | main ${idle.cpu.main.toFixed(2)}%, exporter ${idle.cpu.exporter.toFixed(2)}%, Node/V8 helpers ${idle.cpu.helpers.toFixed(2)}% | | | |`,
    `| (detail) Postgres backends of the agent's sessions, settled (not in the figure above) | ${idle.backends.map((b) => `\`${b.app}\` ${b.pct.toFixed(2)}%`).join(", ") || "none"} | | | |`,
    `| (detail) idle CPU, the first ${EARLY_SAMPLE_S} s after ${EARLY_REST_S} s of rest (start-up tail included) | ${idle.earlyCpuPct.toFixed(2)}% of a core | | | |`,
    `| Readiness detected after \`ready\` | ${fmt(ready)} | | < 10 ms | ${verdict(readyOk)} |`,
    "",
    "What a fresh `node` process spends importing the heaviest dependencies from node_modules (each alone, unbundled, median of 5; the agent runs them bundled, see bin/build-bundle.mjs, and loads pg, execa and the spec parser only when needed):",
    "",
    "| Import | Median |",
    "|---|---|",
    ...imports.map(([s, st]) => `| \`${s}\` | ${st.median.toFixed(0)} ms |`),
  ].join("\n");
  const summary: SummaryRow[] = [
    {
      figure: "Agent start, exec -> first `/healthz` answered",
      ours: median(start.ours),
      floor: `bare \`node\` HTTP server: ${median(start.node)}`,
      target: `< 150 ms ${verdict(startOk)}`,
    },
    {
      figure: "Agent idle RSS / CPU (exporter thread included)",
      ours: `${idle.agentRssMb.toFixed(1)} MB / ${idle.cpu.total.toFixed(1)}%`,
      floor: "",
      target: `< 80 MB / < 1% ${verdict(rssOk && cpuOk)}`,
    },
  ];
  return { title: "Agent start, idle footprint, readiness detection", markdown, summary };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const s = await run();
  console.log(`## ${s.title}\n\n${s.markdown}`);
}
