// Spec apply benchmark: 100 roles + 100 databases applied from scratch (fresh cluster each run)
// against the floor of the same statements through psql with our parallelism: phase by phase,
// each phase's statements split over the same number of psql sessions as reconcileSpec splits them
// over connections. One sequential `psql -f` session is a reference row. Then the unchanged
// re-apply, and 1,000 roles + 200 databases applied without error.
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import { pino } from "pino";
import { connect } from "../src/postgres/connection.js";
import { type Plan, planSpec, readCatalogSnapshot, reconcileSpec } from "../src/reconcile/index.js";
import type { ComputeSpecJson } from "../src/spec/types.js";
import { pgBinaries, startTestPostgres, type TestPostgres } from "../test/support/postgres.js";
import { specJson } from "../test/support/spec-json.js";
import { type BenchSection, fmt, median, repeat, type Stats, type SummaryRow, summarize } from "./stats.js";

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
  const lines: string[] = [];
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
    const report = await reconcileSpec({
      target: { connstr: pg.connstr() },
      spec: s,
      privilegedRole: PRIV,
      concurrency: CONCURRENCY,
      log,
    });
    return report.durationMs;
  });
}

/** The cluster's plan for `s`, from its catalog snapshot (what reconcileSpec would run). */
async function planFor(
  pg: TestPostgres,
  s: ComputeSpecJson,
): Promise<{ plan: Plan; systemDatabase: string }> {
  const client = await pg.client();
  const snapshot = await readCatalogSnapshot(client, {
    privilegedRole: PRIV,
    roleNames: [],
    subscriptions: false,
  }).finally(() => client.end());
  return {
    plan: planSpec({ spec: s, snapshot, privilegedRole: PRIV }),
    systemDatabase: snapshot.systemDatabase,
  };
}

let scriptCounter = 0;

/** Runs one psql session over a script file; `database` is where it starts. */
async function psqlSession(pg: TestPostgres, script: string, database: string): Promise<void> {
  const file = path.join(path.dirname(pg.pgdata), `floor-${scriptCounter++}.sql`);
  writeFileSync(file, `\\set ON_ERROR_STOP on\n${script}`);
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
    database,
    "-f",
    file,
  ]);
}

const sql = (statements: { sql: string }[]) => statements.map((st) => `${st.sql};`).join("\n");
/** reconcileSpec's `batch`: the statements as one multi-statement query, i.e. one transaction. */
const batch = (statements: { sql: string }[]) => `BEGIN;\n${sql(statements)}\nCOMMIT;`;

/** Splits `items` over at most `n` sessions, round robin (reconcileSpec's workers take them in turn). */
function split<T>(items: readonly T[], n: number): T[][] {
  const out: T[][] = Array.from({ length: Math.max(1, Math.min(n, items.length)) }, () => []);
  items.forEach((item, i) => {
    out[i % out.length].push(item);
  });
  return out;
}

/**
 * The floor with our parallelism: the phases in order; within a phase the same statements split
 * the way reconcileSpec splits them, each share run by its own psql session, all at once: `batch`
 * and `sequential` phases on one session, `parallel` statements (CREATE DATABASE) one per session
 * slot, per-database tasks over the slots with a `\\connect` per database (as reconcileSpec opens a
 * connection per database). Timed from the first psql start to the last one's exit.
 */
async function psqlParallelFloor(s: ComputeSpecJson): Promise<number> {
  return withFreshCluster(async (pg) => {
    const { plan, systemDatabase } = await planFor(pg, s);
    const t = performance.now();
    for (const phase of plan.phases) {
      let scripts: string[];
      if (phase.kind === "sql") {
        if (phase.mode === "batch") scripts = [batch(phase.statements)];
        else if (phase.mode === "sequential") scripts = [sql(phase.statements)];
        else scripts = split(phase.statements, CONCURRENCY).map((share) => sql(share));
      } else {
        scripts = split(phase.tasks, CONCURRENCY).map((tasks) =>
          tasks
            .map(
              (task) =>
                `\\connect "${task.database}"\n${task.mode === "batch" ? batch(task.statements) : sql(task.statements)}`,
            )
            .join("\n"),
        );
      }
      await Promise.all(scripts.map((script) => psqlSession(pg, script, systemDatabase)));
    }
    return performance.now() - t;
  });
}

/**
 * Reference: the same statements in order through one `psql -f` session. `defaultStrategy`: as
 * a hand-written script would be, without our STRATEGY FILE_COPY.
 */
async function psqlSequential(s: ComputeSpecJson, defaultStrategy = false): Promise<number> {
  return withFreshCluster(async (pg) => {
    const { plan, systemDatabase } = await planFor(pg, s);
    const script = psqlScript(plan, systemDatabase);
    const t = performance.now();
    await psqlSession(
      pg,
      defaultStrategy ? script.replaceAll(" STRATEGY FILE_COPY", "") : script,
      "postgres",
    );
    return performance.now() - t;
  });
}

/** Alternates ours and the floors so all see the same machine load. */
async function firstApply(
  s: ComputeSpecJson,
  runs: number,
): Promise<{ ours: Stats; floor: Stats; sequential: Stats; naive: Stats }> {
  const samples = {
    ours: [] as number[],
    floor: [] as number[],
    sequential: [] as number[],
    naive: [] as number[],
  };
  for (let i = 0; i < runs; i++) {
    samples.floor.push(await psqlParallelFloor(s));
    samples.ours.push(await ourFirstApply(s));
    samples.sequential.push(await psqlSequential(s));
    samples.naive.push(await psqlSequential(s, true));
  }
  return {
    ours: summarize(samples.ours),
    floor: summarize(samples.floor),
    sequential: summarize(samples.sequential),
    naive: summarize(samples.naive),
  };
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
    await reconcileSpec(opts);
    let ddl = 0;
    const stats = await repeat(
      async () => {
        const r = await reconcileSpec(opts);
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
    const r = await reconcileSpec({
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
    `Load average at the end: ${load} (${availableParallelism()} cores). Fresh test cluster per first-apply run (fsync off). Ours: \`reconcileSpec\` in-process (the agent's code), ${CONCURRENCY} connections for CREATE DATABASE and per-database work. Floor: the very statements our plan produces, run by \`psql\` with the same parallelism: phase by phase, each phase's statements split over the same number of psql sessions as we split them over connections (one session for a batch or sequential phase, up to ${CONCURRENCY} for CREATE DATABASE and for the per-database tasks, with a \`\\connect\` per database as we open a connection per database); the floor's time includes starting its psql processes. Reference: the same statements through one sequential \`psql -f\` session.`,
    "",
    "| Case | Ours | Floor / target | Verdict |",
    "|---|---|---|---|",
    `| First apply, 100 roles + 100 databases | ${fmt(first.ours)} | psql, ${CONCURRENCY} sessions split as ours: ${fmt(first.floor)} | ${verdict(firstOk)} no slower than the floor |`,
    `| (reference) | | one sequential \`psql -f\`: ${fmt(first.sequential)} | |`,
    `| (reference, Postgres' default CREATE DATABASE strategy) | | one sequential \`psql -f\`: ${fmt(first.naive)} | |`,
    `| Unchanged re-apply, 100 + 100 | ${fmt(again.stats)} (p90 ${again.stats.p90.toFixed(1)} ms), ${again.ddl} statements | < 50 ms median, no DDL (for scale: connect + \`SELECT 1\` ${fmt(again.session)}) | ${verdict(againOk)} |`,
    `| First apply, 1,000 roles + 200 databases | ${(big.ms / 1000).toFixed(1)} s, ${big.roles} roles and ${big.databases} databases present | without error | ${verdict(bigOk)} |`,
  ].join("\n");
  const summary: SummaryRow[] = [
    {
      figure: "Spec apply, 100 roles + 100 databases",
      ours: median(first.ours),
      floor: `same SQL via psql, ${CONCURRENCY} sessions split as ours: ${median(first.floor)} (one sequential \`psql -f\`: ${median(first.sequential)})`,
      target: `no slower ${verdict(firstOk)}`,
    },
    {
      figure: "Unchanged re-apply, 100 + 100",
      ours: `${median(again.stats)}, ${again.ddl} statements`,
      floor: "",
      target: `< 50 ms, no DDL ${verdict(againOk)}`,
    },
  ];
  return { title: "Spec apply (roles, databases)", markdown, summary };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const section = await run();
  console.log(`## ${section.title}\n\n${section.markdown}`);
}
