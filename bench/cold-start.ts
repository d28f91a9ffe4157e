// Cold start, spec -> `running`, with the example spec: the agent with the template cache, the
// agent without it (`--no-template-cache`), and their floors measured in the same rounds:
// copy of the template + `postgres` + the same SQL through `psql`, and `initdb` + `postgres`
// with a 1 ms readiness poll + the same SQL (plus `initdb` + `pg_ctl start -w`, which polls every
// 100 ms, for reference).
// Our figure runs from exec of bin/compute_ctl to the `-> running` log line.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { chown, cp, readFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import type { ComputeSpec } from "../src/spec/types.js";
import { copyVerified } from "../src/startup/sources/template-cache-copy.js";
import { checkEntry, lstatExact, parseManifest } from "../src/startup/sources/template-cache-manifest.js";
import { freePort } from "../test/support/ports.js";
import { type BenchSection, fmt, median, type Stats, type SummaryRow, summarize } from "./stats.js";
import { spawnAgent } from "./support/agent-process.js";
import { exampleSpec } from "./support/example-spec.js";
import {
  configFiles,
  initdb,
  killPostgres,
  pgCtlStart,
  pgOsUser,
  plainCopy,
  runPsql,
  startPostgresDirect,
  stopPostgresFast,
  writeConfig,
  writePlanScript,
} from "./support/floor-cluster.js";
import { interleave, verdict } from "./support/interleave.js";
import { benchRoot, templateDataDir } from "./support/scratch-dirs.js";

const RUNS = Number(process.env.BENCH_COLD_RUNS ?? 15);
const UNCACHED_RUNS = Number(process.env.BENCH_COLD_UNCACHED_RUNS ?? 5);

interface ColdStartContext {
  root: string;
  spec: ComputeSpec;
  pgPort: number;
  cacheDir: string;
  phases: Record<string, number[]>;
  /** Phases of the starts whose spec came through POST /configure. */
  configuredPhases: Record<string, number[]>;
  /** The cached floor's steps, under the names of the agent phases doing the same work. */
  floorPhases: Record<string, number[]>;
}

async function agentColdStart(c: ColdStartContext, args: string[], keepPhases: boolean): Promise<number> {
  const runRoot = benchRoot("agent-", c.root);
  const agent = await spawnAgent({ root: runRoot, spec: c.spec.json, args, pgPort: c.pgPort });
  try {
    const ms = await agent.waitRunning();
    if (keepPhases) {
      for (const [k, v] of Object.entries(await agent.metrics())) {
        if (v > 0) c.phases[k] = [...(c.phases[k] ?? []), v];
      }
    }
    return ms;
  } finally {
    await agent.stop();
    rmSync(runRoot, { recursive: true, force: true });
  }
}

/**
 * A spec delivered to an agent that is already up and waiting (`POST /configure`; how a
 * serverless platform with a pool of pre-started computes starts one, Neon's model): ms from
 * sending the request until its answer, which comes once the compute is `running`.
 */
async function agentConfiguredStart(c: ColdStartContext): Promise<number> {
  const runRoot = benchRoot("agent-cfg-", c.root);
  const agent = await spawnAgent({ root: runRoot, args: ["--cache-dir", c.cacheDir], pgPort: c.pgPort });
  try {
    // A ready pool member: its data directory is staged from the template beside -D (renamed
    // into place when the spec arrives) and everything it loads at start is loaded.
    await agent.waitForLog((e) => e.msg === "data directory staged from the template");
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${agent.port}/configure`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ spec: c.spec.json }),
    });
    const body = await res.text();
    const ms = performance.now() - t0;
    if (!res.ok) throw new Error(`POST /configure answered ${res.status}: ${body}`);
    for (const [k, v] of Object.entries(await agent.metrics())) {
      if (v > 0) c.configuredPhases[k] = [...(c.configuredPhases[k] ?? []), v];
    }
    return ms;
  } finally {
    await agent.stop();
    rmSync(runRoot, { recursive: true, force: true });
  }
}

/**
 * One floor run: fill the data directory, write the config, start Postgres, run the SQL. With
 * `phases`, each step's duration is kept under the agent's phase name for the same work.
 */
async function floorRun(
  c: ColdStartContext,
  script: string,
  fill: (pgdata: string) => Promise<void>,
  start: (pgdata: string) => Promise<void>,
  phases?: Record<string, number[]>,
): Promise<number> {
  const pgdata = path.join(c.root, "floor-pgdata");
  rmSync(pgdata, { recursive: true, force: true });
  const conf = configFiles(c.spec, c.pgPort);
  const t0 = performance.now();
  let t = t0;
  const step = async (name: string, fn: () => Promise<void>) => {
    await fn();
    const now = performance.now();
    if (phases) phases[name] = [...(phases[name] ?? []), now - t];
    t = now;
  };
  try {
    await step("fetch_data_ms", () => fill(pgdata));
    await step("write_config_ms", () => writeConfig(pgdata, conf));
    await step("start_postgres_ms", () => start(pgdata));
    await step("config_ms", () => runPsql(script, c.pgPort));
    return performance.now() - t0;
  } finally {
    await stopPostgresFast(pgdata).catch(() => killPostgres(pgdata));
    rmSync(pgdata, { recursive: true, force: true });
  }
}

/** Ways to copy the template, and what verifying it costs, all on the same template. */
async function copyMethods(c: ColdStartContext, template: string): Promise<Record<string, Stats>> {
  const manifest = parseManifest(readFileSync(path.join(template, "..", "manifest.json"), "utf8"));
  const dest = path.join(c.root, "copy-dest");
  const owner = pgOsUser ? { uid: pgOsUser.uid, gid: pgOsUser.gid } : null;
  const timed = async (fn: () => Promise<unknown>) => {
    rmSync(dest, { recursive: true, force: true });
    const t0 = performance.now();
    await fn();
    const ms = performance.now() - t0;
    rmSync(dest, { recursive: true, force: true });
    return ms;
  };
  const fresh = async () => {
    mkdirSync(dest, { mode: 0o700 });
    if (owner) await chown(dest, owner.uid, owner.gid);
  };
  return interleave(
    {
      verifiedCopy: () =>
        timed(async () => {
          await fresh();
          await copyVerified(template, manifest.entries, dest, owner);
        }),
      plainCopy: () => timed(() => plainCopy(template, dest)),
      cpA: () => timed(() => execa("cp", ["--reflink=auto", "-a", template, dest])),
      fsCp: () =>
        timed(async () => {
          await cp(template, dest, { recursive: true });
          if (owner) await execa("chown", ["-R", `${owner.uid}:${owner.gid}`, dest]);
        }),
      statOnly: () =>
        timed(async () => {
          await Promise.all(
            manifest.entries.map(async (e) => checkEntry(e, await lstatExact(path.join(template, e.path)))),
          );
        }),
      sha256: () =>
        timed(async () => {
          for (const e of manifest.entries) {
            if (e.type === "file")
              createHash("sha256")
                .update(await readFile(path.join(template, e.path)))
                .digest();
          }
        }),
    },
    { runs: 5 },
  );
}

function copyTable(m: Record<string, Stats>): string {
  return [
    "Copying the template (~40 MB, ~1,000 files, tmpfs to tmpfs), and the cost of checking it:",
    "",
    "| Method | Time |",
    "|---|---|",
    `| ours for a waiting agent (\`copyVerified\`): synchronous \`copyFile\` + chown + identity check per entry, in 8 ms slices | ${fmt(m.verifiedCopy)} |`,
    `| async \`fs.copyFile\` + chown, all files in parallel, no check | ${fmt(m.plainCopy)} |`,
    `| \`cp --reflink=auto -a\` (one process; ours at exec, \`copyVerifiedByChild\`, adds the identity check below) | ${fmt(m.cpA)} |`,
    `| \`fs.cp\` recursive + \`chown -R\` | ${fmt(m.fsCp)} |`,
    `| identity check alone (parallel lstat of every entry, compared with the manifest) | ${fmt(m.statOnly)} |`,
    `| sha256 of every file (what a content check per start would cost) | ${fmt(m.sha256)} |`,
    "",
    "The template manifest records each entry's type, mode, size, inode and ctime (ns) at publish time; every change made through the kernel (write, truncate, unlink + re-create, rename, chmod, chown, entries added to a directory) sets ctime, which user space cannot set back, so a matching identity means an unchanged entry. The check runs inside the copy (one lstat after each file is copied), which is why it is cheap; a content hash would add the sha256 row to every start. Not covered: media corruption below the filesystem and a forged clock; Postgres checks the CRCs of pg_control and of the WAL it replays.",
  ].join("\n");
}

function phaseTable(
  phases: Record<string, number[]>,
  configured: Record<string, number[]>,
  floor: Record<string, number[]>,
): string {
  const rows: [string, string][] = [
    ["total_startup_ms", "process start (or spec arrival) -> `running` (agent's own clock)"],
    ["agent_start_ms", "process start (or spec arrival) -> first start step"],
    ["prepare_pgdata_ms", "empty the data directory"],
    ["fetch_data_ms", "fill it (floor: plain copy)"],
    ["template_copy_ms", "  of which: verified copy from the template"],
    [
      "template_staged_ms",
      "  of which: staged copy (head start at exec, or the waiting agent's) awaited, checked, renamed into place",
    ],
    ["write_config_ms", "postgresql.conf, pg_hba.conf"],
    ["start_postgres_ms", "`postgres` until ready"],
    ["config_ms", "the spec's SQL (floor: `psql -f`)"],
  ];
  const med = (xs: number[] | undefined) => (xs?.length ? summarize(xs).median.toFixed(0) : "");
  const body = rows
    .filter(([k]) => phases[k]?.length || configured[k]?.length || floor[k]?.length)
    .map(
      ([k, what]) => `| \`${k}\` | ${what} | ${med(phases[k])} | ${med(configured[k])} | ${med(floor[k])} |`,
    );
  return [
    "Where the time goes, cached start (medians, ms; agent from its `/metrics.json`):",
    "",
    "| Phase | Work | Agent, `-S` at exec | Agent, `POST /configure` | Floor |",
    "|---|---|---|---|---|",
    ...body,
  ].join("\n");
}

export async function run(): Promise<BenchSection> {
  const root = benchRoot("ccb-cold-");
  const c: ColdStartContext = {
    root,
    spec: exampleSpec(),
    pgPort: await freePort(),
    cacheDir: path.join(root, "cache"),
    phases: {},
    configuredPhases: {},
    floorPhases: {},
  };
  mkdirSync(c.cacheDir, { mode: 0o700 });
  try {
    // The first start publishes the template; the cached rounds then always hit.
    await agentColdStart(c, ["--cache-dir", c.cacheDir], false);
    const template = templateDataDir(c.cacheDir);
    const script = await writePlanScript(root, c.spec, c.pgPort, template);

    const cached = await interleave(
      {
        ours: () => agentColdStart(c, ["--cache-dir", c.cacheDir], true),
        configured: () => agentConfiguredStart(c),
        floor: () => floorRun(c, script, (d) => plainCopy(template, d), startPostgresDirect, c.floorPhases),
      },
      { runs: RUNS },
    );
    const uncached = await interleave(
      {
        ours: () => agentColdStart(c, ["--no-template-cache"], false),
        floor: () => floorRun(c, script, initdb, pgCtlStart),
        tight: () => floorRun(c, script, initdb, startPostgresDirect),
      },
      { runs: UNCACHED_RUNS },
    );
    const copies = await copyMethods(c, template);
    return section(c, cached, uncached, copies);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function section(
  c: ColdStartContext,
  cached: Record<"ours" | "configured" | "floor", Stats>,
  uncached: Record<"ours" | "floor" | "tight", Stats>,
  copies: Record<string, Stats>,
): BenchSection {
  const pct = (a: Stats, b: Stats) => `${(((a.median - b.median) / b.median) * 100).toFixed(0)}%`;
  // A waiting agent has done the spec-independent work before the spec: at or below the floor.
  // At exec, Node's own start is on our side only: floor + 100 ms.
  const cachedOk = cached.ours.median <= cached.floor.median + 100;
  const configuredOk = cached.configured.median <= cached.floor.median;
  // The verdict is against the 1 ms-poll floor: pg_ctl -w sleeps 100 ms between checks.
  const uncachedOk = uncached.ours.median <= uncached.tight.median * 1.1;
  const markdown = [
    "Example spec (`examples/spec.json`: 2 roles, 2 databases, 2 settings), data directory and template on tmpfs (`/dev/shm`), Postgres as the `postgres` OS user. Ours: exec of `bin/compute_ctl -S spec` until the agent logs `-> running` (includes Node start, the API servers and the spec apply; as its first act the agent starts a `cp -a` of the template beside `-D` - its head start, `src/startup/head-start.ts` - which runs on the other core while the agent loads and validates the spec, and is checked against the template's manifest and renamed into place by the start); and the same spec sent with `POST /configure` to an agent that is already up and waiting (a pool of pre-started computes, Neon's model) and has staged its data directory from the template beside `-D` (renamed into place when an initdb spec arrives, `src/startup/sources/template-staging.ts`), until the answer, which comes at `running`. Floors: a plain copy of the template, the same config files, `postgres` with a 1 ms readiness poll, and the statements our planner produces for this spec run by one `psql -f`, measured in the same rounds (the waiting agent's staging happens before the spec, so it is in neither figure). Rounds interleave ours and the floors.",
    "",
    "| Case | Ours | Floor | Ours vs floor | Target | Verdict |",
    "|---|---|---|---|---|---|",
    `| With template cache, spec at exec (\`-S\`) | ${fmt(cached.ours)} | copy of the template + \`postgres\` + psql: ${fmt(cached.floor)} | ${pct(cached.ours, cached.floor)} | within floor + 100 ms | ${verdict(cachedOk)} |`,
    `| With template cache, spec to a waiting agent (\`POST /configure\`) | ${fmt(cached.configured)} | (same floor) | ${pct(cached.configured, cached.floor)} | at or below the floor | ${verdict(configuredOk)} |`,
    `| Without cache (\`--no-template-cache\`) | ${fmt(uncached.ours)} | \`initdb\` + \`postgres\` (1 ms readiness poll) + psql: ${fmt(uncached.tight)} | ${pct(uncached.ours, uncached.tight)} | within 10% of floor | ${verdict(uncachedOk)} |`,
    `| (reference) | | \`initdb\` + \`pg_ctl start -w\` (polls every 100 ms) + psql: ${fmt(uncached.floor)} | ${pct(uncached.ours, uncached.floor)} | | |`,
    "",
    phaseTable(c.phases, c.configuredPhases, c.floorPhases),
    "",
    copyTable(copies),
  ].join("\n");
  const summary: SummaryRow[] = [
    {
      figure: "Cold start, template cache, spec at exec (`-S`)",
      ours: median(cached.ours),
      floor: `template copy + \`postgres\` + \`psql\`: ${median(cached.floor)}`,
      target: `within floor + 100 ms ${verdict(cachedOk)} (${pct(cached.ours, cached.floor)})`,
    },
    {
      figure: "Cold start, template cache, `POST /configure` to a waiting agent",
      ours: median(cached.configured),
      floor: "(same floor)",
      target: `at or below the floor ${verdict(configuredOk)} (${pct(cached.configured, cached.floor)})`,
    },
    {
      figure: "Cold start, `--no-template-cache`",
      ours: median(uncached.ours),
      floor: `\`initdb\` + \`postgres\` (1 ms poll) + \`psql\`: ${median(uncached.tight)}`,
      target: `within 10% ${verdict(uncachedOk)} (${pct(uncached.ours, uncached.tight)})`,
    },
  ];
  return { title: "Cold start: spec -> running", markdown, summary };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const s = await run();
  console.log(`## ${s.title}\n\n${s.markdown}`);
}
