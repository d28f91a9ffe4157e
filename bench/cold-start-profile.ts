// Profiling aid for the `-S` cold start (not a bench section; docs/benchmarks.md comes from
// bench/cold-start.ts). Runs cached `-S` starts of one or more agent builds, interleaved round by
// round so that load hits each build alike, and prints per build: exec -> running, the agent's
// CPU time until running (utime + stime of the agent process from /proc: a figure load moves
// less than wall time) and the medians of its phases from /metrics.json.
//   node --import tsx bench/cold-start-profile.ts [runs] [bin...]   (default bin: bin/compute_ctl)
//   TIMELINE=1 ...   also prints every run's log lines with their arrival time
//   ARGS="--no-template-cache" ...   other agent flags instead of --cache-dir
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { AGENT_BIN } from "../test/support/agent.js";
import { freePort } from "../test/support/ports.js";
import { median, summarize } from "./stats.js";
import { spawnAgent } from "./support/agent-process.js";
import { exampleSpec } from "./support/example-spec.js";
import { benchRoot } from "./support/scratch-dirs.js";

const runs = Number(process.argv[2] ?? 5);
const bins = process.argv.length > 3 ? process.argv.slice(3) : [AGENT_BIN];
const root = benchRoot("ccb-prof-");
const cacheDir = path.join(root, "cache");
mkdirSync(cacheDir, { mode: 0o700 });
const pgPort = await freePort();
const spec = exampleSpec().json;
const args = process.env.ARGS ? process.env.ARGS.split(" ") : ["--cache-dir", cacheDir];

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

interface Figures {
  totals: number[];
  cpus: number[];
  phases: Record<string, number[]>;
}
const figures = new Map<string, Figures>(bins.map((b) => [b, { totals: [], cpus: [], phases: {} }]));

async function once(bin: string, keep: boolean): Promise<void> {
  process.env.COMPUTE_CTL_BIN = bin;
  const runRoot = benchRoot("agent-", root);
  const agent = await spawnAgent({ root: runRoot, spec, args, pgPort });
  try {
    const ms = await agent.waitRunning();
    const cpu = cpuMs(agent.proc.pid ?? 0);
    if (!keep) return;
    const f = figures.get(bin) as Figures;
    f.totals.push(ms);
    f.cpus.push(cpu);
    for (const [k, v] of Object.entries(await agent.metrics()))
      if (v > 0) f.phases[k] = [...(f.phases[k] ?? []), v];
    if (process.env.TIMELINE)
      for (const l of agent.lines) console.log(l.at.toFixed(1).padStart(7), l.entry.msg);
  } finally {
    await agent.stop();
    rmSync(runRoot, { recursive: true, force: true });
  }
}

try {
  await once(bins[0], false); // publishes the template
  for (let i = 0; i < runs; i++) for (const bin of i % 2 ? [...bins].reverse() : bins) await once(bin, true);
} finally {
  rmSync(root, { recursive: true, force: true });
}
const m = (xs: number[]) => median(summarize(xs));
for (const [bin, f] of figures) {
  console.log(`\n${bin}`);
  console.log(`  exec -> running ${m(f.totals)}  [${f.totals.map((t) => t.toFixed(0)).join(" ")}]`);
  console.log(`  agent CPU until running ${m(f.cpus)}  [${f.cpus.join(" ")}]`);
  for (const [k, v] of Object.entries(f.phases)) console.log(`  ${k.padEnd(22)} ${m(v)}`);
}
