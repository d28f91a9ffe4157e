// Fast terminate: `POST /terminate?mode=fast` on a running compute (example spec, started from
// the template cache) until the answer (the agent answers once Postgres has exited and the
// state is `terminated`), against `pg_ctl stop -m fast` on the same kind of cluster (template
// copy, same config, same SQL applied), and SIGINT + a 1 ms poll for the process to go.
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { ComputeSpec } from "../src/spec/types.js";
import { freePort } from "../test/support/ports.js";
import { type BenchSection, fmt, median, type Stats } from "./stats.js";
import { spawnAgent } from "./support/agent-process.js";
import { exampleSpec } from "./support/example-spec.js";
import {
  configFiles,
  killPostgres,
  pgCtlStopFast,
  plainCopy,
  runPsql,
  startPostgresDirect,
  stopPostgresFast,
  writeConfig,
  writePlanScript,
} from "./support/floor-cluster.js";
import { interleave, verdict } from "./support/interleave.js";
import { benchRoot, templateDataDir } from "./support/scratch-dirs.js";

const RUNS = Number(process.env.BENCH_TERMINATE_RUNS ?? 7);
/**
 * Rest between "running" and the terminate, for ours and the floors alike: right after
 * `running` the agent starts its background work (activity monitor, migrations), which would
 * be measured instead of the terminate path.
 */
const SETTLE_MS = 1000;
const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));

interface TerminateContext {
  root: string;
  spec: ComputeSpec;
  pgPort: number;
  cacheDir: string;
}

async function agentTerminate(c: TerminateContext): Promise<number> {
  const runRoot = benchRoot("agent-", c.root);
  const agent = await spawnAgent({
    root: runRoot,
    spec: c.spec.json,
    args: ["--cache-dir", c.cacheDir],
    pgPort: c.pgPort,
  });
  try {
    await agent.waitRunning();
    await settle();
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${agent.port}/terminate?mode=fast`, { method: "POST" });
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`/terminate answered ${res.status}: ${await res.text()}`);
    return ms;
  } finally {
    await agent.stop();
    rmSync(runRoot, { recursive: true, force: true });
  }
}

async function floorTerminate(
  c: TerminateContext,
  template: string,
  script: string,
  stop: (pgdata: string) => Promise<void>,
): Promise<number> {
  const pgdata = path.join(c.root, "floor-pgdata");
  rmSync(pgdata, { recursive: true, force: true });
  try {
    await plainCopy(template, pgdata);
    await writeConfig(pgdata, configFiles(c.spec, c.pgPort));
    await startPostgresDirect(pgdata);
    await runPsql(script, c.pgPort);
    await settle();
    const t0 = performance.now();
    await stop(pgdata);
    return performance.now() - t0;
  } finally {
    killPostgres(pgdata);
    rmSync(pgdata, { recursive: true, force: true });
  }
}

async function prepare(c: TerminateContext): Promise<{ template: string; script: string }> {
  // One cached start publishes the template the agent and the floors start from.
  const warm = await spawnAgent({
    root: benchRoot("warm-", c.root),
    spec: c.spec.json,
    args: ["--cache-dir", c.cacheDir],
    pgPort: c.pgPort,
  });
  await warm.waitRunning().finally(() => warm.stop());
  const template = templateDataDir(c.cacheDir);
  return { template, script: await writePlanScript(c.root, c.spec, c.pgPort, template) };
}

export async function run(): Promise<BenchSection> {
  const root = benchRoot("ccb-term-");
  const c: TerminateContext = {
    root,
    spec: exampleSpec(),
    pgPort: await freePort(),
    cacheDir: path.join(root, "cache"),
  };
  mkdirSync(c.cacheDir, { mode: 0o700 });
  try {
    const { template, script } = await prepare(c);
    const stats = await interleave(
      {
        ours: () => agentTerminate(c),
        pgCtl: () => floorTerminate(c, template, script, pgCtlStopFast),
        signal: () => floorTerminate(c, template, script, stopPostgresFast),
      },
      { runs: RUNS },
    );
    return section(stats);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function section(s: Record<"ours" | "pgCtl" | "signal", Stats>): BenchSection {
  const ok = s.ours.median <= s.pgCtl.median + 50;
  const markdown = [
    `Running compute from the example spec (template cache, spec applied), ${SETTLE_MS} ms after it became ready. Ours: \`POST /terminate?mode=fast\` until the answer, which comes once Postgres has exited and the state is \`terminated\`. Floors on the same kind of cluster (template copy, same config, same SQL applied, same rest).`,
    "",
    "| Case | Ours | Floor | Target | Verdict |",
    "|---|---|---|---|---|",
    `| Fast terminate -> \`terminated\` | ${fmt(s.ours)} | \`pg_ctl stop -m fast\`: ${fmt(s.pgCtl)} | within 50 ms of \`pg_ctl\` | ${verdict(ok)} |`,
    `| (reference) | | SIGINT to the postmaster + 1 ms poll until gone: ${fmt(s.signal)} | | |`,
  ].join("\n");
  const summary = [
    {
      figure: "Fast terminate -> `terminated`",
      ours: median(s.ours),
      floor: `\`pg_ctl stop -m fast\`: ${median(s.pgCtl)}`,
      target: `within 50 ms ${verdict(ok)}`,
    },
  ];
  return { title: "Fast terminate", markdown, summary };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const s = await run();
  console.log(`## ${s.title}\n\n${s.markdown}`);
}
