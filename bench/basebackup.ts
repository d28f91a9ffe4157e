// Basebackup benchmarks (issue 6):
// 1. Cold start from a primary basebackup of a 100 MB database (our primary source + Postgres
//    start) against the floor: `pg_basebackup -X stream` and starting Postgres by hand.
//    Target: within 15% of the floor.
// 2. Peak RSS of the agent process while a 1 GB database is copied, through the primary source
//    (pg_basebackup streams to disk) and through the neon source (COPY OUT -> gunzip -> untar in
//    our process, from the fake pageserver). Target: under 150 MB.
// Standalone: `node --import tsx bench/basebackup.ts`. The agent side runs in a child process
// (this file with --child) so its VmHWM is its own.
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { execa } from "execa";
import pino from "pino";
import { asUser } from "../src/postgres/os-user.js";
import { parseSpec } from "../src/spec/parse.js";
import { neonSource } from "../src/startup/sources/neon-source.js";
import { primaryBasebackupSource } from "../src/startup/sources/primary-basebackup.js";
import type { SourceContext } from "../src/startup/sources/source-driver.js";
import { NO_PROGRESS } from "../src/state/progress.js";
import { emptyPgdata, startComputePostgres } from "../test/support/compute-postgres.js";
import { startFakePageserver } from "../test/support/fake-pageserver.js";
import {
  pgBinaries,
  pgOsUser,
  startTestPostgres,
  type TestPostgres,
  tempDir,
} from "../test/support/postgres.js";
import { specJson } from "../test/support/source-context.js";
import { type BenchSection, fmt, median, type Stats, summarize } from "./stats.js";

const THIS_FILE = fileURLToPath(import.meta.url);
const MB = 1024 * 1024;

function statusKb(pid: number | "self", field: "VmHWM" | "VmRSS"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

// ---- child: the "agent" side, one source run in its own process ----

interface ChildJob {
  spec: Record<string, unknown>;
  pgdata: string;
  kind: "primary" | "neon";
}

async function child(): Promise<void> {
  const job = JSON.parse(process.env.BENCH_JOB ?? "{}") as ChildJob;
  const metrics: Record<string, number> = {};
  const ctx: SourceContext = {
    pgdata: job.pgdata,
    spec: parseSpec(job.spec),
    pg: pgBinaries,
    osUser: pgOsUser,
    connstr: "postgresql://postgres@127.0.0.1/postgres",
    log: pino({ level: "silent" }),
    signal: new AbortController().signal,
    progress: () => NO_PROGRESS,
    runtimeDir: `${job.pgdata}.run`,
    computeId: null,
    record: (k, v) => {
      metrics[k] = v;
    },
  };
  const baselineKb = statusKb("self", "VmHWM");
  const t0 = performance.now();
  const source = job.kind === "primary" ? primaryBasebackupSource() : neonSource();
  await source.prepare(ctx);
  const ms = performance.now() - t0;
  process.stdout.write(`${JSON.stringify({ baselineKb, hwmKb: statusKb("self", "VmHWM"), ms, metrics })}\n`);
}

interface ChildResult {
  baselineKb: number;
  hwmKb: number;
  ms: number;
  metrics: Record<string, number>;
  /** Peak VmHWM of pg_basebackup under the child (primary source only). */
  toolHwmKb: number;
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

async function runChild(job: ChildJob): Promise<ChildResult> {
  const proc = spawn(process.execPath, ["--import", "tsx", THIS_FILE, "--child"], {
    env: { ...process.env, BENCH_JOB: JSON.stringify(job) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  let toolHwmKb = 0;
  const poll = setInterval(() => {
    for (const pid of childPids(proc.pid as number)) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "pg_basebackup") {
          toolHwmKb = Math.max(toolHwmKb, statusKb(pid, "VmHWM"));
        }
      } catch {
        // exited between the listing and the read
      }
    }
  }, 50);
  const code = await new Promise<number | null>((r) => proc.once("exit", r));
  clearInterval(poll);
  if (code !== 0) throw new Error(`bench child (${job.kind}) exited with ${code}`);
  return {
    ...(JSON.parse(out.trim().split("\n").at(-1) as string) as Omit<ChildResult, "toolHwmKb">),
    toolHwmKb,
  };
}

// ---- parent ----

async function dbSizeMb(pg: TestPostgres): Promise<number> {
  const [{ bytes }] = await pg.query<{ bytes: string }>("SELECT pg_database_size('postgres')::text AS bytes");
  return Number(bytes) / MB;
}

/** Grows table `big` until the database is about `mb` MB (rows of ~160 bytes of hex text). */
async function fill(pg: TestPostgres, mb: number): Promise<void> {
  await pg.query("CREATE TABLE IF NOT EXISTS big (id bigint, pad text)");
  const rowsPerMb = 5800;
  let next = 1;
  while ((await dbSizeMb(pg)) < mb) {
    const rows = Math.max(10_000, Math.ceil(((mb - (await dbSizeMb(pg))) * rowsPerMb) / 2));
    await pg.query(
      `INSERT INTO big SELECT g, md5(g::text) || md5((g * 3)::text) || md5((g * 7)::text) || md5((g * 11)::text)
       FROM generate_series($1::bigint, $2::bigint) g`,
      [next, next + rows - 1],
    );
    next += rows;
  }
  await pg.query("CHECKPOINT");
}

/** Ours: the primary source in Primary mode, then Postgres until ready. */
async function coldStartOurs(source: TestPostgres): Promise<number> {
  const { root, pgdata } = emptyPgdata();
  try {
    const t0 = performance.now();
    const ctx: SourceContext = {
      pgdata,
      spec: parseSpec(specJson({ source: { kind: "primary", connstring: source.connstr() } })),
      pg: pgBinaries,
      osUser: pgOsUser,
      connstr: "postgresql://postgres@127.0.0.1/postgres",
      log: pino({ level: "silent" }),
      signal: new AbortController().signal,
      progress: () => NO_PROGRESS,
      runtimeDir: `${pgdata}.run`,
      computeId: null,
      record: () => {},
    };
    const result = await primaryBasebackupSource().prepare(ctx);
    const pg = await startComputePostgres(pgdata, result.confLines);
    const ms = performance.now() - t0;
    await pg.stop();
    return ms;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Floor: pg_basebackup -X stream into the directory, then Postgres started by hand until ready. */
async function coldStartFloor(source: TestPostgres): Promise<number> {
  const { root, pgdata } = emptyPgdata();
  try {
    const t0 = performance.now();
    await execa(
      pgBinaries.tool("pg_basebackup"),
      ["-D", pgdata, "-d", source.connstr(), "-X", "stream", "-c", "fast", "--no-sync", "-w"],
      { ...asUser(pgOsUser) },
    );
    const pg = await startComputePostgres(pgdata);
    const ms = performance.now() - t0;
    await pg.stop();
    return ms;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function coldStart(): Promise<{ ours: Stats; floor: Stats; sizeMb: number }> {
  const source = await startTestPostgres();
  try {
    await fill(source, 100);
    const sizeMb = await dbSizeMb(source);
    await coldStartOurs(source);
    await coldStartFloor(source);
    const ours: number[] = [];
    const floor: number[] = [];
    // Interleaved so drift on the shared machine hits both alike.
    for (let i = 0; i < 5; i++) {
      floor.push(await coldStartFloor(source));
      ours.push(await coldStartOurs(source));
    }
    return { ours: summarize(ours), floor: summarize(floor), sizeMb };
  } finally {
    await source.stop();
  }
}

async function peakRss(): Promise<{
  sizeMb: number;
  primary: ChildResult;
  neon: ChildResult;
  tarMb: number;
}> {
  const source = await startTestPostgres();
  const tarDir = path.join(tempDir("cct-bb-"), "t");
  try {
    await fill(source, 1024);
    const sizeMb = await dbSizeMb(source);

    const p = emptyPgdata();
    const primary = await runChild({
      kind: "primary",
      pgdata: p.pgdata,
      spec: specJson({ source: { kind: "primary", connstring: source.connstr() } }),
    });
    rmSync(p.root, { recursive: true, force: true });

    await execa("mkdir", ["-p", tarDir]);
    if (pgOsUser) await execa("chown", [`${pgOsUser.uid}:${pgOsUser.gid}`, tarDir]);
    await execa(
      pgBinaries.tool("pg_basebackup"),
      [
        "-D",
        tarDir,
        "-d",
        source.connstr(),
        "-Ft",
        "-z",
        "-Z",
        "1",
        "-X",
        "fetch",
        "-c",
        "fast",
        "--no-sync",
        "--no-manifest",
      ],
      { ...asUser(pgOsUser) },
    );
    await source.stop();
    const tarGz = path.join(tarDir, "base.tar.gz");
    const ps = await startFakePageserver({ tarGz });
    const n = emptyPgdata();
    try {
      const neon = await runChild({
        kind: "neon",
        pgdata: n.pgdata,
        spec: specJson({
          tenant_id: "b0554b632bd4d547a63b86c3630317e8", // Neon ids are 32 hex digits
          timeline_id: "2414a61ffc94e428f14b5758fe308e13",
          pageserver_connstring: ps.url,
          mode: "Replica",
        }),
      });
      return { sizeMb, primary, neon, tarMb: (neon.metrics.basebackup_bytes ?? 0) / MB };
    } finally {
      await ps.close();
      rmSync(n.root, { recursive: true, force: true });
    }
  } finally {
    await source.stop();
    rmSync(path.dirname(tarDir), { recursive: true, force: true });
  }
}

/** VmHWM of a Node process that only loads the libraries the sources use, with and without tsx. */
async function loaderOverheadKb(): Promise<number> {
  const script =
    'await Promise.all(["pg","pg-copy-streams","tar","pino","execa"].map((m) => import(m)));' +
    'console.log(/VmHWM:\\s+(\\d+)/.exec((await import("node:fs")).readFileSync("/proc/self/status","utf8"))[1])';
  const hwm = async (args: string[]) =>
    Number(
      (
        await execa(process.execPath, [...args, "--input-type=module", "-e", script], {
          cwd: path.dirname(THIS_FILE),
        })
      ).stdout,
    );
  return (await hwm(["--import", "tsx"])) - (await hwm([]));
}

export async function run(): Promise<BenchSection> {
  const cs = await coldStart();
  const ratio = cs.ours.median / cs.floor.median;
  const rss = await peakRss();
  const loaderKb = await loaderOverheadKb();
  const mb = (kb: number) => (kb / 1024).toFixed(0);
  const rssOk = (r: ChildResult) => r.hwmKb / 1024 < 150;
  const markdown = [
    `Cold start of a Primary-mode compute from a primary basebackup of a ${cs.sizeMb.toFixed(0)} MB database`,
    "(copy + Postgres ready), against `pg_basebackup -X stream -c fast` plus starting Postgres by hand.",
    "",
    "| | time |",
    "|---|---|",
    `| ours (primary source + start) | ${fmt(cs.ours)} |`,
    `| floor (pg_basebackup + manual start) | ${fmt(cs.floor)} |`,
    "",
    `Ours / floor = ${ratio.toFixed(2)} (target <= 1.15): **${ratio <= 1.15 ? "met" : "missed"}**.`,
    "",
    `Peak RSS (VmHWM) of the agent process while copying a ${rss.sizeMb.toFixed(0)} MB database:`,
    "",
    "| source | agent peak RSS | agent RSS before | copy time | notes |",
    "|---|---|---|---|---|",
    `| primary (pg_basebackup) | ${mb(rss.primary.hwmKb)} MB | ${mb(rss.primary.baselineKb)} MB | ${(rss.primary.ms / 1000).toFixed(1)} s | pg_basebackup's own peak ${mb(rss.primary.toolHwmKb)} MB |`,
    `| neon (COPY OUT -> gunzip -> untar in-process) | ${mb(rss.neon.hwmKb)} MB | ${mb(rss.neon.baselineKb)} MB | ${(rss.neon.ms / 1000).toFixed(1)} s | ${rss.tarMb.toFixed(0)} MB gzip'd stream from the fake pageserver |`,
    "",
    `Target < 150 MB: **${rssOk(rss.primary) && rssOk(rss.neon) ? "met" : "missed"}**. The figures include the tsx loader the`,
    `benchmark runs under (${mb(loaderKb)} MB more than plain Node loading the same libraries), which the built agent does not`,
    "load. The neon path's extra over its baseline is transient garbage from the CopyData chunks, gunzip and tar,",
    "collected in the young generation; it is bounded, not proportional to the database size.",
  ].join("\n");
  const summary = [
    {
      figure: `Cold start from a ${cs.sizeMb.toFixed(0)} MB primary base backup`,
      ours: median(cs.ours),
      floor: `\`pg_basebackup\` + manual start: ${median(cs.floor)}`,
      target: `within 15% ${ratio <= 1.15 ? "✅" : "❌"}`,
    },
  ];
  return { title: "Basebackup: cold start and memory", markdown, summary };
}

if (process.argv[2] === "--child") {
  await child();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const section = await run();
  process.stdout.write(`## ${section.title}\n\n${section.markdown}\n`);
}
