// Spec apply benchmark: 100 roles + 100 databases applied from scratch against the floor of the
// same DDL through one `psql -f` session (fresh cluster each run), the unchanged re-apply, and
// 1,000 roles + 200 databases applied without error.
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import { pino } from "pino";
import { connect } from "../src/postgres/connection.js";
import { applySpec, type Plan, planSpec, readCatalogSnapshot } from "../src/reconcile/index.js";
import type { ComputeSpecJson } from "../src/spec/types.js";
import { pgBinaries, startTestPostgres, type TestPostgres } from "../test/support/postgres.js";
import { specJson } from "../test/support/spec-json.js";
import { type BenchSection, fmt, repeat, type Stats, summarize } from "./stats.js";

const PRIV = "neon_superuser";
const HASH = "6b1d16b78004bbd51fa06af9eda75972";
/** What the agent uses at start on a default max_connections = 100 (see startup/steps/apply-spec.ts). */
const CONCURRENCY = 10;
const log = pino({ level: "silent" });

function spec(roles: number, databases: number): ComputeSpecJson {
  const roleName = (i: number) => `role_${String(i).padStart(4, "0")}`;
  return specJson({
    roles: Array.from({ length: roles }, (_, i) => ({
      name: roleName(i),
      encrypted_password: HASH,
      options: null,
    })),
    databases: Array.from({ length: databases }, (_, i) => ({
      name: `db_${String(i).padStart(4, "0")}`,
      owner: roleName(i % roles),
      options: null,
    })),
  });
}

/** The plan as a psql script: the same statements, in order, one session (\connect per database). */
function psqlScript(plan: Plan, systemDatabase: string): string {
  const lines: string[] = ["\\set ON_ERROR_STOP on"];
  const switchTo = (db: string) => lines.push(`\\connect "${db}"`);
  for (const phase of plan.phases) {
    if (phase.kind === "sql") {
      for (const s of phase.statements) lines.push(`${s.sql};`);
    } else {
      for (const task of phase.tasks) {
        switchTo(task.database);
        for (const s of task.statements) lines.push(`${s.sql};`);
      }
      switchTo(systemDatabase);
    }
  }
  return `${lines.join("\n")}\n`;
}

async function withFreshCluster<T>(fn: (pg: TestPostgres) => Promise<T>): Promise<T> {
  const pg = await startTestPostgres();
  try {
    return await fn(pg);
  } finally {
    await pg.stop();
  }
}

async function ourFirstApply(s: ComputeSpecJson): Promise<number> {
  return withFreshCluster(async (pg) => {
    const report = await applySpec({
      target: { connstr: pg.connstr() },
      spec: s,
      privilegedRole: PRIV,
      concurrency: CONCURRENCY,
      log,
    });
    return report.durationMs;
  });
}

/** `defaultStrategy`: as a hand-written script would be, without our STRATEGY FILE_COPY. */
async function psqlFloor(s: ComputeSpecJson, defaultStrategy = false): Promise<number> {
  return withFreshCluster(async (pg) => {
    const client = await pg.client();
    const snapshot = await readCatalogSnapshot(client, {
      privilegedRole: PRIV,
      roleNames: [],
      subscriptions: false,
    }).finally(() => client.end());
    const file = path.join(path.dirname(pg.pgdata), "floor.sql");
    const script = psqlScript(planSpec({ spec: s, snapshot, privilegedRole: PRIV }), snapshot.systemDatabase);
    writeFileSync(file, defaultStrategy ? script.replaceAll(" STRATEGY FILE_COPY", "") : script);
    const t = performance.now();
    await execa(pgBinaries.tool("psql"), [
      "-X",
      "-q",
      "-h",
      pg.socketDir,
      "-p",
      String(pg.port),
      "-U",
      "postgres",
      "-d",
      "postgres",
      "-f",
      file,
    ]);
    return performance.now() - t;
  });
}

/** Alternates ours and the floor so both see the same machine load. */
async function firstApply(
  s: ComputeSpecJson,
  runs: number,
): Promise<{ ours: Stats; floor: Stats; naive: Stats }> {
  const ours: number[] = [];
  const floor: number[] = [];
  const naive: number[] = [];
  for (let i = 0; i < runs; i++) {
    floor.push(await psqlFloor(s));
    ours.push(await ourFirstApply(s));
    naive.push(await psqlFloor(s, true));
  }
  return { ours: summarize(ours), floor: summarize(floor), naive: summarize(naive) };
}

/** Re-apply of the unchanged spec, and for scale the cost of one agent session running SELECT 1. */
async function reapply(s: ComputeSpecJson): Promise<{ stats: Stats; ddl: number; session: Stats }> {
  return withFreshCluster(async (pg) => {
    const opts = {
      target: { connstr: pg.connstr() },
      spec: s,
      privilegedRole: PRIV,
      concurrency: CONCURRENCY,
      log,
    };
    await applySpec(opts);
    let ddl = 0;
    const stats = await repeat(
      async () => {
        const r = await applySpec(opts);
        ddl += r.statements.length;
        return r.durationMs;
      },
      { warmup: 2, runs: 20 },
    );
    const session = await repeat(
      async () => {
        const t = performance.now();
        const c = await connect(opts.target, { applicationName: "bench" });
        await c.query("SELECT 1");
        const ms = performance.now() - t;
        await c.end();
        return ms;
      },
      { warmup: 2, runs: 20 },
    );
    return { stats, ddl, session };
  });
}

async function large(): Promise<{ ms: number; roles: number; databases: number }> {
  const s = spec(1000, 200);
  return withFreshCluster(async (pg) => {
    const r = await applySpec({
      target: { connstr: pg.connstr() },
      spec: s,
      privilegedRole: PRIV,
      concurrency: CONCURRENCY,
      log,
    });
    const [counts] = await pg.query<{ roles: number; dbs: number }>(
      "SELECT (SELECT count(*)::int FROM pg_roles WHERE rolname LIKE 'role\\_%') AS roles, (SELECT count(*)::int FROM pg_database WHERE datname LIKE 'db\\_%') AS dbs",
    );
    return { ms: r.durationMs, roles: counts.roles, databases: counts.dbs };
  });
}

export async function run(): Promise<BenchSection> {
  const s100 = spec(100, 100);
  const first = await firstApply(s100, 3);
  const again = await reapply(s100);
  const big = await large();
  const verdict = (ok: boolean) => (ok ? "✅" : "❌");
  const firstOk = first.ours.median <= first.floor.median;
  const againOk = again.stats.median < 50 && again.ddl === 0;
  const bigOk = big.roles === 1000 && big.databases === 200;
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const markdown = [
    `Load average at the end: ${load} (${availableParallelism()} cores). Fresh test cluster per first-apply run (fsync off, ${CONCURRENCY} connections for CREATE DATABASE and per-database work); the floor runs the very statements our plan produces through one \`psql -f\` session.`,
    "",
    "| Case | Ours | Floor / target | Verdict |",
    "|---|---|---|---|",
    `| First apply, 100 roles + 100 databases | ${fmt(first.ours)} | psql -f: ${fmt(first.floor)} | ${verdict(firstOk)} no slower than the floor |`,
    `| (same script, Postgres' default CREATE DATABASE strategy) | | psql -f: ${fmt(first.naive)} | for reference |`,
    `| Unchanged re-apply, 100 + 100 | ${fmt(again.stats)} (p90 ${again.stats.p90.toFixed(1)} ms), ${again.ddl} statements | < 50 ms median, no DDL (for scale: connect + \`SELECT 1\` ${fmt(again.session)}) | ${verdict(againOk)} |`,
    `| First apply, 1,000 roles + 200 databases | ${(big.ms / 1000).toFixed(1)} s, ${big.roles} roles and ${big.databases} databases present | without error | ${verdict(bigOk)} |`,
  ].join("\n");
  return { title: "Spec apply (roles, databases)", markdown };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const section = await run();
  console.log(`## ${section.title}\n\n${section.markdown}`);
}
