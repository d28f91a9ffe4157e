// The benchmark suite (`npm run bench`): runs each benchmark module's `run()` in turn and writes
// docs/benchmarks.md with the machine, the date, the command and one section per benchmark.
// `--only a,b` runs some of them and replaces only their sections, keeping the others (each
// section says when and by which command it was measured). Plain scripts, no test runner.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { REPO } from "../test/support/agent.js";
import type { BenchSection } from "./stats.js";

/** Benchmark modules in report order: bench/<name>.ts exporting `run(): Promise<BenchSection>`. */
const BENCHMARKS = [
  "cold-start",
  "terminate",
  "agent-start",
  "reconcile",
  "grpc",
  "exporter",
  "basebackup",
  "healthz",
  "prewarm",
  "archive",
] as const;

const DOC = path.join(REPO, "docs/benchmarks.md");
const BEGIN = (name: string) => `<!-- bench:${name} -->`;
const END = (name: string) => `<!-- /bench:${name} -->`;

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith(".ts")) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** The benchmarks run the compiled agent (bin/compute_ctl): rebuild it when src/ is newer. */
function ensureBuild(): void {
  const built = path.join(REPO, "dist/cli/main.js");
  if (existsSync(built) && statSync(built).mtimeMs >= newestMtime(path.join(REPO, "src"))) return;
  console.error("bench: dist/ is older than src/, running npm run build");
  try {
    execFileSync("npm", ["run", "build", "--silent"], { cwd: REPO, stdio: "inherit" });
  } catch {
    console.error("bench: the build reported errors (files were still emitted); continuing");
  }
}

function postgresVersion(): string {
  try {
    const bin = execFileSync("bash", ["-c", "ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1"]);
    return execFileSync(path.join(bin.toString().trim(), "postgres"), ["--version"]).toString().trim();
  } catch {
    return "unknown";
  }
}

/** ms for `node -e 0`, median of 7, in the given environment. */
function nodeBoot(env: NodeJS.ProcessEnv): number {
  const runs: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    execFileSync(process.execPath, ["-e", "0"], { env });
    runs.push(performance.now() - t0);
  }
  return runs.sort((a, b) => a - b)[3];
}

/**
 * NODE_EXTRA_CA_CERTS makes every Node process read and parse that CA bundle before running any
 * code (~40 ms here). Sandboxes set it for their proxies; a compute's container does not. The
 * benchmarks run every process without it (ours and the Node floors alike) and say so.
 */
function cleanEnvironment(): string | null {
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  if (!ca) return null;
  const { NODE_EXTRA_CA_CERTS: _, ...without } = process.env;
  const withMs = nodeBoot(process.env);
  const withoutMs = nodeBoot(without);
  delete process.env.NODE_EXTRA_CA_CERTS;
  return `- Environment: this machine sets \`NODE_EXTRA_CA_CERTS=${ca}\`, which costs every Node start ${(withMs - withoutMs).toFixed(0)} ms (\`node -e 0\`: ${withMs.toFixed(0)} ms with it, ${withoutMs.toFixed(0)} ms without); the benchmarks unset it for every process they start, ours and the floors alike`;
}

function machine(command: string, started: Date, envNote: string | null): string {
  const cpus = os.cpus();
  const load = os.loadavg().map((l) => l.toFixed(2));
  return [
    `- Date: ${started.toISOString().replace("T", " ").slice(0, 16)} UTC`,
    `- Machine: ${cpus.length} × ${cpus[0]?.model.trim() ?? "unknown CPU"}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, Linux ${os.release()}`,
    `- Load average when the run started: ${load.join(", ")} (other work on the machine shows in every figure; floors are measured in the same rounds)`,
    `- Node ${process.version}, ${postgresVersion()}`,
    `- Command: \`${command}\``,
    ...(envNote ? [envNote] : []),
  ].join("\n");
}

function previousSections(): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(DOC)) return out;
  const text = readFileSync(DOC, "utf8");
  for (const name of BENCHMARKS) {
    const a = text.indexOf(BEGIN(name));
    const b = text.indexOf(END(name));
    if (a >= 0 && b > a) out.set(name, text.slice(a, b + END(name).length));
  }
  return out;
}

function render(name: string, s: BenchSection, command: string, when: Date, seconds: number): string {
  return [
    BEGIN(name),
    `## ${s.title}`,
    "",
    `_Measured ${when.toISOString().slice(0, 16).replace("T", " ")} UTC by \`${command}\` in ${seconds.toFixed(0)} s._`,
    "",
    s.markdown.trim(),
    END(name),
  ].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { only: { type: "string", multiple: true }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(`npm run bench [-- --only ${BENCHMARKS.join(",")}]`);
    return;
  }
  const only = (values.only ?? []).flatMap((v) => v.split(",")).filter(Boolean);
  const unknown = only.filter((n) => !(BENCHMARKS as readonly string[]).includes(n));
  if (unknown.length)
    throw new Error(`unknown benchmark(s) ${unknown.join(", ")}; known: ${BENCHMARKS.join(", ")}`);
  const selected = only.length ? BENCHMARKS.filter((n) => only.includes(n)) : [...BENCHMARKS];
  const command = only.length ? `npm run bench -- --only ${selected.join(",")}` : "npm run bench";
  const started = new Date();
  const header = machine(command, started, cleanEnvironment());
  ensureBuild();

  const sections = previousSections();
  const notes: string[] = [];
  for (const name of selected) {
    const file = path.join(REPO, "bench", `${name}.ts`);
    if (!existsSync(file)) {
      notes.push(`- \`${name}\`: bench/${name}.ts does not exist yet, skipped.`);
      console.error(`bench: ${name}: no bench/${name}.ts, skipped`);
      continue;
    }
    const t0 = performance.now();
    console.error(`bench: ${name} ...`);
    try {
      const mod = (await import(pathToFileURL(file).href)) as { run?: () => Promise<BenchSection> };
      if (typeof mod.run !== "function") throw new Error(`bench/${name}.ts does not export run()`);
      const section = await mod.run();
      const seconds = (performance.now() - t0) / 1000;
      sections.set(name, render(name, section, command, new Date(), seconds));
      console.error(`bench: ${name} done in ${seconds.toFixed(0)} s`);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      notes.push(`- \`${name}\` failed: ${msg.split("\n")[0]}`);
      console.error(`bench: ${name} failed:`, err);
    }
  }

  const body = BENCHMARKS.filter((n) => sections.has(n)).map((n) => sections.get(n));
  const doc = [
    "# Benchmarks",
    "",
    "Generated by `npm run bench` (`bench/run.ts`); do not edit by hand. Each figure is the median of repeated runs after a warm-up, with min, max and run count; every figure stands next to its floor measured in the same run.",
    "",
    "Last run:",
    "",
    header,
    ...(notes.length ? ["", "Notes from the last run:", "", ...notes] : []),
    "",
    ...body.flatMap((b) => [b, ""]),
  ].join("\n");
  writeFileSync(DOC, doc);
  console.error(`bench: wrote ${path.relative(REPO, DOC)}`);
}

await main();
// A benchmark may leave a handle open (a pool, a timer); the report is written, so stop here.
process.exit(0);
