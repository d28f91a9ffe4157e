#!/usr/bin/env node
// `npm run test:repeat -- N [test files...]`: runs the suite N times and prints, per test, how
// often it failed. Each run is exactly `npm run test:suite` (the command `npm test` ends with),
// read from package.json, with two reporters added: the usual spec output goes to a log file per
// run, and a small JSON-lines reporter (test-repeat-reporter.mjs) records every test's outcome.
// Type-check, lint and build (`npm run check`, `npm run build`) run once, before the first run.
// Test files given after N replace the suite's `test/*.test.ts`, to repeat a few files.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const [countArg, ...files] = process.argv.slice(2);
const runs = Number(countArg ?? "5");
if (!Number.isInteger(runs) || runs < 1 || runs > 1000) {
  console.error(`usage: npm run test:repeat -- N [test files...]  (N: runs, 1..1000; got ${countArg})`);
  process.exit(2);
}

const suite = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).scripts["test:suite"];
if (typeof suite !== "string" || !suite.startsWith("node ") || !suite.includes("test/*.test.ts")) {
  console.error(
    `package.json scripts["test:suite"] must be a "node ... test/*.test.ts" command; it is ${suite}`,
  );
  process.exit(2);
}

const sh = (command) => spawnSync("sh", ["-c", command], { cwd: root, stdio: "inherit" }).status ?? 1;
if (sh("npm run check && npm run build") !== 0) {
  console.error("npm run check / npm run build failed: no test run");
  process.exit(1);
}

const logDir = mkdtempSync(path.join(os.tmpdir(), "compute-ctl-test-repeat-"));
mkdirSync(logDir, { recursive: true });
const reporter = path.join(root, "bin", "test-repeat-reporter.mjs");
const quote = (s) => `'${s.replaceAll("'", "'\\''")}'`;

/** Per test ("file › parent › name"): how many runs it failed, and which runs. */
const failures = new Map();
const seen = new Set();
const summary = [];

for (let run = 1; run <= runs; run++) {
  const events = path.join(logDir, `run-${run}.jsonl`);
  const log = path.join(logDir, `run-${run}.log`);
  const reporters =
    `--test-reporter=spec --test-reporter-destination=${quote(log)} ` +
    `--test-reporter=${quote(reporter)} --test-reporter-destination=${quote(events)}`;
  let command = suite.replace(/^node /, `node ${reporters} `);
  if (files.length > 0) command = command.replace("test/*.test.ts", files.map(quote).join(" "));
  const t0 = Date.now();
  const status = sh(command);
  const seconds = ((Date.now() - t0) / 1000).toFixed(0);
  const outcomes = readOutcomes(events);
  const failed = outcomes.filter((o) => !o.ok);
  for (const o of outcomes) {
    seen.add(o.key);
    if (o.ok) continue;
    const f = failures.get(o.key) ?? { count: 0, runs: [], errors: [] };
    f.count++;
    f.runs.push(run);
    f.errors.push(o.error);
    failures.set(o.key, f);
  }
  const line = `run ${run}/${runs}: ${status === 0 ? "green" : `exit ${status}`}, ${outcomes.length} tests, ${failed.length} failed, ${seconds} s (log ${log})`;
  summary.push(line);
  console.log(line);
  // A run that failed without a failing test (a crash before any report) counts as a failure too.
  if (status !== 0 && failed.length === 0) {
    const key = "(the test command itself)";
    const f = failures.get(key) ?? { count: 0, runs: [], errors: [] };
    f.count++;
    f.runs.push(run);
    f.errors.push(`exit status ${status}`);
    failures.set(key, f);
  }
}

console.log(`\n${summary.join("\n")}`);
console.log(`\nper-test failures over ${runs} run(s), ${seen.size} distinct tests:`);
if (failures.size === 0) console.log("  none");
for (const [key, f] of [...failures].sort((a, b) => b[1].count - a[1].count)) {
  console.log(`  ${f.count}/${runs}  ${key}  (runs ${f.runs.join(", ")})`);
  for (const e of new Set(f.errors)) console.log(`        ${e.split("\n")[0].slice(0, 200)}`);
}
console.log(`logs: ${logDir}`);
process.exit(failures.size === 0 ? 0 : 1);

/**
 * Leaf outcomes of one run. The reporter writes children before their parent, each with its
 * nesting depth, so names are joined to their parents' when the parent arrives. A suite that
 * failed only because a child failed is not counted again.
 */
function readOutcomes(file) {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const out = [];
  const pending = new Map(); // `${file}\0${nesting}` -> entries waiting for their parent
  for (const line of text.split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line);
    const entry = { names: [e.name], descendants: [], ok: e.ok, error: e.error, leaf: !e.onlySubtestsFailed };
    const childKey = `${e.file}\0${e.nesting + 1}`;
    for (const child of pending.get(childKey) ?? []) {
      for (const d of [child, ...child.descendants]) {
        d.names.unshift(e.name);
        entry.descendants.push(d);
      }
    }
    pending.delete(childKey);
    if (e.nesting > 0) {
      const k = `${e.file}\0${e.nesting}`;
      pending.set(k, [...(pending.get(k) ?? []), entry]);
      continue;
    }
    for (const d of [entry, ...entry.descendants]) {
      if (!d.leaf) continue;
      const where = e.file ? path.relative(root, e.file) : "(no file)";
      out.push({ key: `${where} › ${d.names.join(" › ")}`, ok: d.ok, error: d.error ?? "" });
    }
  }
  return out;
}
