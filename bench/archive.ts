// The archive source (issue 18): cold start from a pgBackRest repository for a 100 MB and a 1 GB
// database, against the floor measured in the same rounds: `pgbackrest restore` (same repository,
// same backup, recovery to the end of the archive) and `postgres` started by hand until it
// accepts read-write connections. Ours runs from exec of bin/compute_ctl to the `-> running`
// log line (restore, replay to the last shutdown checkpoint, promotion, spec applied). Then the
// time from a fast `/terminate` to "everything archived": its answer comes once the remaining
// WAL is in the repository (the shutdown checkpoint's segment included).
// Standalone: `node --import tsx bench/archive.ts`.
import { execFileSync, spawn } from "node:child_process";
import { chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { freePort } from "../test/support/ports.js";
import { type BenchSection, fmt, type Stats, summarize } from "./stats.js";
import { spawnAgent } from "./support/agent-process.js";
import { killPostgres, pgBinaries, pgOsUser } from "./support/floor-cluster.js";
import { interleave, verdict } from "./support/interleave.js";
import { benchRoot } from "./support/scratch-dirs.js";

const RUNS_100 = Number(process.env.BENCH_ARCHIVE_RUNS ?? 5);
const RUNS_1G = Number(process.env.BENCH_ARCHIVE_1G_RUNS ?? 3);
const MB = 1024 * 1024;

function spec(repo: string, stanza: string): Record<string, unknown> {
  return {
    format_version: 1,
    suspend_timeout_seconds: -1,
    cluster: {
      roles: [],
      databases: [],
      postgresql_conf: "listen_addresses = '127.0.0.1'\nshared_buffers = 128MB\nmax_connections = 50",
      settings: [],
    },
    source: { kind: "archive", stanza, repo: { type: "posix", path: repo }, archive_timeout_seconds: 60 },
  };
}

const asPg = pgOsUser ? { uid: pgOsUser.uid, gid: pgOsUser.gid } : {};

async function sql(port: number, text: string): Promise<pg.QueryResultRow[]> {
  const c = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "postgres" });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

interface Stanza {
  readonly root: string;
  readonly repo: string;
  readonly stanza: string;
  /** A pgbackrest config for the floor (the same repository, its own paths). */
  readonly floorConf: string;
  readonly pgPort: number;
  readonly bytes: number;
}

/** Bootstraps a stanza with the agent, fills it to `mb`, takes a full backup, stops cleanly. */
async function makeStanza(root: string, stanza: string, mb: number): Promise<Stanza> {
  const repo = path.join(root, "repo");
  mkdirSync(repo);
  if (pgOsUser) chownSync(repo, pgOsUser.uid, pgOsUser.gid);
  const pgPort = await freePort();
  const agent = await spawnAgent({ root: benchRoot("a-", root), spec: spec(repo, stanza), pgPort });
  try {
    await agent.waitRunning(120_000);
    await sql(pgPort, "CREATE TABLE filler (id bigint, a text, b text, c text, d text)");
    // ~170 bytes per row of hex text: compresses like ordinary data, not like a repeated pattern.
    const rows = Math.round((mb * MB) / 200);
    for (let done = 0; done < rows; done += 500_000) {
      await sql(
        pgPort,
        `INSERT INTO filler SELECT g, md5(g::text), md5((g + 1)::text), md5((g + 2)::text), md5((g + 3)::text)
         FROM generate_series(${done + 1}, ${Math.min(rows, done + 500_000)}) g`,
      );
    }
    const [{ size }] = await sql(pgPort, "SELECT pg_database_size('postgres')::bigint AS size");
    // The backup a start restores holds the data (the first one, taken at bootstrap, does not);
    // it waits for that first one, which may still run (one backup per stanza at a time).
    const conf = path.join(`${agent.pgdata}.run`, "pgbackrest", "pgbackrest.conf");
    for (;;) {
      const info = JSON.parse(
        execFileSync("pgbackrest", [`--config=${conf}`, `--stanza=${stanza}`, "--output=json", "info"], {
          ...asPg,
          encoding: "utf8",
        }),
      )[0];
      if (info.backup?.length && !info.status?.lock?.backup?.held) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    execFileSync("pgbackrest", [`--config=${conf}`, `--stanza=${stanza}`, "--type=full", "backup"], asPg);
    const res = await fetch(`http://127.0.0.1:${agent.port}/terminate?mode=fast`, { method: "POST" });
    if (res.status !== 200) throw new Error(`terminate: ${res.status}`);
    // The floor's own pgbackrest config: same repository, its own lock/spool paths.
    const floorDir = benchRoot("floor-conf-", root);
    const floorConf = path.join(floorDir, "pgbackrest.conf");
    writeFileSync(
      floorConf,
      [
        "[global]",
        `repo1-path=${repo}`,
        `lock-path=${floorDir}`,
        `spool-path=${floorDir}`,
        `log-path=${floorDir}`,
        "log-level-console=warn",
        "log-level-file=off",
        "archive-async=y",
        "process-max=2",
        "",
        `[${stanza}]`,
        "pg1-path=/nonexistent",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    if (pgOsUser) chownSync(floorConf, pgOsUser.uid, pgOsUser.gid);
    return { root, repo, stanza, floorConf, pgPort, bytes: Number(size) };
  } finally {
    await agent.stop();
  }
}

/** The shipped agent on the stanza's spec, in a fresh run directory under the stanza's root. */
async function stanzaAgent(s: Stanza, prefix: string) {
  const runRoot = benchRoot(prefix, s.root);
  const agent = await spawnAgent({
    root: runRoot,
    spec: spec(s.repo, s.stanza),
    pgPort: s.pgPort,
    args: ["--compute-id", "bench"],
  });
  return { runRoot, agent };
}

async function oursColdStart(s: Stanza, phases: Record<string, number[]>): Promise<number> {
  const { runRoot, agent } = await stanzaAgent(s, "ours-");
  try {
    const ms = await agent.waitRunning(600_000);
    for (const [k, v] of Object.entries(await agent.metrics())) {
      if (v > 0 && k.endsWith("_ms")) phases[k] = [...(phases[k] ?? []), v];
    }
    // A fast stop, so that the next start restores the same way (a clean stop, a new timeline).
    await fetch(`http://127.0.0.1:${agent.port}/terminate?mode=fast`, { method: "POST" });
    return ms;
  } finally {
    await agent.stop();
    rmSync(runRoot, { recursive: true, force: true });
  }
}

function readyReadWrite(pgdata: string): boolean {
  try {
    const lines = readFileSync(path.join(pgdata, "postmaster.pid"), "utf8").trimEnd().split("\n");
    return lines.length >= 8 && lines.at(-1)?.trim() === "ready";
  } catch {
    return false;
  }
}

/** `pgbackrest restore` (recovery to the end of the archive) + `postgres` until read-write ready. */
async function floorColdStart(s: Stanza): Promise<number> {
  const runRoot = benchRoot("floor-", s.root);
  const pgdata = path.join(runRoot, "pgdata");
  mkdirSync(pgdata, { mode: 0o700 });
  if (pgOsUser) chownSync(pgdata, pgOsUser.uid, pgOsUser.gid);
  const t0 = performance.now();
  try {
    execFileSync(
      "pgbackrest",
      [
        `--config=${s.floorConf}`,
        `--stanza=${s.stanza}`,
        `--pg1-path=${pgdata}`,
        "--archive-mode=off",
        "restore",
      ],
      asPg,
    );
    // Read-write ready: no hot standby, so postmaster.pid says "ready" only after promotion.
    writeFileSync(
      path.join(pgdata, "postgresql.conf"),
      `port = ${s.pgPort}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nshared_buffers = 128MB\nmax_connections = 50\nhot_standby = off\n`,
    );
    const child = spawn(pgBinaries.postgres, ["-D", pgdata], { ...asPg, stdio: "ignore", detached: true });
    child.unref();
    const deadline = Date.now() + 600_000;
    while (!readyReadWrite(pgdata)) {
      if (child.exitCode !== null) throw new Error(`floor postgres exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error("floor postgres not ready in 600 s");
      await new Promise((r) => setTimeout(r, 2));
    }
    return performance.now() - t0;
  } finally {
    killPostgres(pgdata);
    await new Promise((r) => setTimeout(r, 300));
    rmSync(runRoot, { recursive: true, force: true });
  }
}

/** A running primary writes `walMb` of WAL, then `/terminate` until its answer (all archived). */
async function terminateArchived(s: Stanza, walMb: number): Promise<{ total: number; push: number }> {
  const { runRoot, agent } = await stanzaAgent(s, "term-");
  try {
    await agent.waitRunning(600_000);
    await sql(s.pgPort, "CREATE TABLE IF NOT EXISTS churn (id bigint, t text)");
    await sql(
      s.pgPort,
      `INSERT INTO churn SELECT g, md5(g::text) FROM generate_series(1, ${Math.round((walMb * MB) / 120)}) g`,
    );
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${agent.port}/terminate?mode=fast`, { method: "POST" });
    const total = performance.now() - t0;
    if (res.status !== 200) throw new Error(`terminate: ${res.status}`);
    const pushed = agent.lines.find((l) => l.entry.msg === "remaining WAL pushed after shutdown");
    const down = agent.lines.find((l) =>
      /received fast shutdown request|database system is shut down/.test(String(l.entry.msg)),
    );
    return { total, push: pushed && down ? pushed.at - down.at : Number.NaN };
  } finally {
    await agent.stop();
    rmSync(runRoot, { recursive: true, force: true });
  }
}

function med(xs: number[] | undefined): string {
  return xs?.length ? `${summarize(xs).median.toFixed(0)}` : "-";
}

export async function run(): Promise<BenchSection> {
  const root = benchRoot("ccb-arch-");
  try {
    const rows: string[] = [];
    const notes: string[] = [];
    for (const [label, mb, runs] of [
      ["100 MB", 100, RUNS_100],
      ["1 GB", 1024, RUNS_1G],
    ] as const) {
      const s = await makeStanza(benchRoot(`s${mb}-`, root), `bench${mb}`, mb);
      const phases: Record<string, number[]> = {};
      const st = await interleave(
        { ours: () => oursColdStart(s, phases), floor: () => floorColdStart(s) },
        { runs },
      );
      const within = st.ours.median <= st.floor.median * 1.15;
      const pct = ((st.ours.median / st.floor.median - 1) * 100).toFixed(0);
      rows.push(
        `| Cold start from the repository, ${label} (${(s.bytes / MB).toFixed(0)} MB database) | ${fmt(st.ours)} (${pct}%) | ${fmt(st.floor)} | within 15% | ${verdict(within)} |`,
      );
      notes.push(
        `${label}: our phases (median ms): restore (basebackup_ms) ${med(phases.basebackup_ms)}, start_postgres ${med(phases.start_postgres_ms)}, replay + promotion (source_ready_ms) ${med(phases.source_ready_ms)}, total ${med(phases.total_startup_ms)}.`,
      );
      if (mb === 100) {
        const samples: { total: number; push: number }[] = [];
        for (let i = 0; i < runs; i++) samples.push(await terminateArchived(s, 32));
        const total: Stats = summarize(samples.map((x) => x.total));
        const push = samples.map((x) => x.push).filter((x) => Number.isFinite(x));
        rows.push(
          `| Fast \`/terminate\` -> everything archived (answer), 32 MB of WAL written just before | ${fmt(total)} | | | |`,
        );
        notes.push(
          `Terminate: the answer comes after Postgres's shutdown (its archiver pushes the completed segments first) and the agent's push of the segment holding the shutdown checkpoint; from Postgres's "received fast shutdown request" to the agent's "remaining WAL pushed" took ${push.length ? summarize(push).median.toFixed(0) : "?"} ms (median).`,
        );
      }
      rmSync(s.root, { recursive: true, force: true });
    }
    const markdown = [
      "Posix repository on tmpfs, lz4, `process-max=2`. Ours: exec of `bin/compute_ctl` with an archive spec -> `running` (lease, `pgbackrest restore`, Postgres replays to the last primary's shutdown checkpoint and promotes, spec applied). Floor, same rounds: `pgbackrest restore` of the same backup (recovery to the end of the archive, `--archive-mode=off`) + `postgres` with `hot_standby = off` until `postmaster.pid` says ready (read-write). Each of our starts ends with a fast `/terminate`, so every start restores the same backup and replays one more short timeline.",
      "",
      "| Case | Ours | Floor | Target | Verdict |",
      "|---|---|---|---|---|",
      ...rows,
      "",
      ...notes.map((n) => `- ${n}`),
    ].join("\n");
    return { title: "Archive source (pgBackRest repository)", markdown };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const s = await run();
  console.log(`## ${s.title}\n\n${s.markdown}`);
}
