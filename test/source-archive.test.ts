// End to end against real Postgres 15 and real pgBackRest with a posix repository in a temp
// dir: a compute whose data lives in the repository survives fast terminations (three cycles,
// timelines advance, /terminate reports the final LSN), a kill -9, serves Static computes at a
// past LSN and replicas that follow through the archive, keeps a second primary off its stanza,
// and refuses to start from a broken repository.
import assert from "node:assert/strict";
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { parseLsn } from "../src/postgres/lsn.js";
import { postgresPidsOf, type RunningAgent, startAgent } from "./support/agent.js";
import {
  agentPgbackrestConf,
  archiveSpec,
  archiveUpTo,
  eventually,
  makeRepo,
  stanzaInfo,
  type TestRepo,
  waitForBackup,
} from "./support/archive.js";
import { lintMetrics } from "./support/prometheus-lint.js";
import { strictParse } from "./support/prometheus-strict.js";
import { parseUniqueJson } from "./support/unique-json.js";

let repo: TestRepo;
const agents: RunningAgent[] = [];

before(() => {
  repo = makeRepo();
});
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  repo?.cleanup();
});

async function start(
  name: string,
  stanza: string,
  opts: { id?: string; mode?: unknown; source?: Record<string, unknown> } = {},
): Promise<RunningAgent> {
  const agent = await startAgent({
    spec: archiveSpec(stanza, { type: "posix", path: repo.path }, { mode: opts.mode, source: opts.source }),
    args: opts.id ? ["--compute-id", opts.id] : [],
    name,
  });
  agents.push(agent);
  return agent;
}

async function terminate(agent: RunningAgent): Promise<string> {
  const res = await agent.post("/terminate?mode=fast");
  assert.equal(res.status, 200);
  const body = (await res.json()) as { lsn: string | null };
  assert.match(
    String(body.lsn),
    /^[0-9A-F]+\/[0-9A-F]+$/,
    "a fast /terminate of an archive primary reports the final LSN",
  );
  await agent.exited;
  return body.lsn as string;
}

async function timeline(agent: RunningAgent): Promise<number> {
  const [{ f }] = await agent.query<{ f: string }>("SELECT pg_walfile_name(pg_current_wal_lsn()) AS f");
  return Number.parseInt(f.slice(0, 8), 16);
}

/** The switch point of the newest timeline history file in the repository. */
function historySwitchPoints(stanza: string): string[] {
  const dir = path.join(repo.path, "archive", stanza, "15-1");
  return readdirSync(dir)
    .filter((n) => n.endsWith(".history"))
    .sort()
    .map((n) => readFileSync(path.join(dir, n), "utf8").trim().split("\n").at(-1)?.split("\t")[1] ?? "");
}

/** The switch point in the running compute's own history file of timeline `tli`. */
function localSwitchPoint(agent: RunningAgent, tli: number): string | undefined {
  const file = path.join(
    agent.pgdata,
    "pg_wal",
    `${tli.toString(16).toUpperCase().padStart(8, "0")}.history`,
  );
  return readFileSync(file, "utf8").trim().split("\n").at(-1)?.split("\t")[1];
}

describe("a durable primary", () => {
  test("bootstrap, write, fast terminate, restart: three cycles keep every row, timelines advance", async () => {
    let agent = await start("archive-cycle-0", "cycles", { id: "c-cycles" });
    await agent.waitForStatus("running", 60_000);
    assert.equal(await timeline(agent), 1);
    await agent.query("CREATE TABLE t (id int PRIMARY KEY, cycle int)");
    let next = 1;
    const tls: number[] = [1];
    const finals: string[] = [];
    for (let cycle = 0; cycle < 3; cycle++) {
      await agent.query("INSERT INTO t SELECT g, $1 FROM generate_series($2::int, $2::int + 99) g", [
        cycle,
        next,
      ]);
      next += 100;
      // Committed before /terminate answered: must all be there after the restart.
      finals.push(await terminate(agent));
      assert.equal(postgresPidsOf(agent.pgdata).length, 0);
      agent = await start(`archive-cycle-${cycle + 1}`, "cycles", { id: "c-cycles" });
      await agent.waitForStatus("running", 60_000);
      const [{ n, max }] = await agent.query<{ n: string; max: number }>(
        "SELECT count(*) AS n, max(id) AS max FROM t",
      );
      assert.equal(Number(n), next - 1, `cycle ${cycle}: every committed row came back`);
      assert.equal(max, next - 1);
      tls.push(await timeline(agent));
      // The new timeline starts exactly where the terminated primary ended.
      assert.equal(localSwitchPoint(agent, tls.at(-1) as number), finals.at(-1));
      const [{ cur }] = await agent.query<{ cur: string }>("SELECT pg_current_wal_lsn()::text AS cur");
      assert.ok(parseLsn(cur) >= parseLsn(finals.at(-1) as string));
    }
    assert.deepEqual(tls, [1, 2, 3, 4], "each start is a new timeline");
    // Progress of the restore and the replay went through the compute's progress report (its
    // log lines: started, every second, done).
    const progressOf = (msg: string) =>
      agent.logEntries().find((e) => e.msg === msg)?.progress as Record<string, number> | undefined;
    const restored = progressOf("restore done");
    assert.ok(restored, "a restore done line");
    assert.equal(restored.bytes_done, restored.bytes_total);
    assert.ok(restored.files_done > 100);
    assert.ok(progressOf("wal_replay started"));
    assert.ok(Number(progressOf("wal_replay done")?.bytes_done) > 0);
    // Every line of a durable compute's life has each key once (log pipelines keep the last).
    for (const line of agent
      .logs()
      .split("\n")
      .filter((l) => l.startsWith("{")))
      parseUniqueJson(line);
    // The first start made the stanza and its first full backup.
    const info = stanzaInfo(agentPgbackrestConf(agent), "cycles");
    assert.equal(info.code, 0);
    assert.ok(info.backup.some((b) => b.type === "full"));
    const status = await agent.status();
    assert.equal((status.archive as { stanza: string }).stanza, "cycles");
    assert.equal(await terminate(agent).then(() => true), true);
  });

  test("immediate terminate: the agent still pushes what Postgres wrote, so no commit is lost", async () => {
    // A long archive_timeout: the last commits are in no archived segment when Postgres stops.
    const agent = await start("archive-immediate-0", "cycles", {
      id: "c-cycles",
      source: { archive_timeout_seconds: 600 },
    });
    await agent.waitForStatus("running", 60_000);
    await agent.query("INSERT INTO t SELECT g, 99 FROM generate_series(100001, 100100) g");
    const [{ seg }] = await agent.query<{ seg: string }>(
      "SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg",
    );
    const res = await agent.post("/terminate?mode=immediate");
    assert.equal(res.status, 200);
    await agent.exited;
    assert.ok(
      agent
        .logEntries()
        .some((e) => e.msg === "remaining WAL pushed after shutdown" && (e.pushed as string[]).includes(seg)),
      `the segment ${seg} holding the last commits was pushed after the immediate stop`,
    );
    const again = await start("archive-immediate-1", "cycles", { id: "c-cycles" });
    await again.waitForStatus("running", 60_000);
    const [{ n }] = await again.query<{ n: string }>("SELECT count(*) AS n FROM t WHERE cycle = 99");
    assert.equal(Number(n), 100);
    await terminate(again);
  });

  test("kill -9 of agent and Postgres while a writer commits: every archived commit survives", async () => {
    const agent = await start("archive-kill-0", "killed", { id: "c-killed" });
    await agent.waitForStatus("running", 60_000);
    await waitForBackup(agent, "killed");
    await agent.query("CREATE TABLE w (id int PRIMARY KEY)");
    const client = new pg.Client({ host: "127.0.0.1", port: agent.pgPort, user: "postgres" });
    await client.connect();
    client.on("error", () => {});
    // (LSN after the commit, highest id committed) pairs, as the writer goes.
    const marks: { lsn: bigint; id: number }[] = [];
    let id = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        id++;
        try {
          await client.query("INSERT INTO w VALUES ($1)", [id]);
          const after = await client.query<{ l: string }>("SELECT pg_current_wal_lsn()::text AS l");
          marks.push({ lsn: parseLsn(after.rows[0].l), id });
        } catch {
          return;
        }
      }
    })();
    // Wait for the archive (archive_timeout 2 s switches segments) to hold a good part of the rows.
    const archived = await eventually("a segment with some committed rows archived", 30_000, async () => {
      const [{ last }] = await agent.query<{ last: string | null }>(
        "SELECT last_archived_wal AS last FROM pg_stat_archiver WHERE last_archived_wal ~ '^[0-9A-F]{24}$'",
      );
      if (!last) return null;
      // Everything before the end of the last archived segment is in the repository.
      const segEnd =
        (BigInt(`0x${last.slice(8, 16)}`) * 256n + BigInt(`0x${last.slice(16, 24)}`) + 1n) * 16777216n;
      const safe = marks.filter((m) => m.lsn <= segEnd).at(-1);
      return safe && safe.id > 50 ? safe.id : null;
    });
    process.kill(agent.proc.pid as number, "SIGKILL");
    for (const pid of postgresPidsOf(agent.pgdata)) process.kill(pid, "SIGKILL");
    writing = false;
    await writer;
    await client.end().catch(() => {});
    await agent.exited;

    const again = await start("archive-kill-1", "killed", { id: "c-killed" });
    await again.waitForStatus("running", 90_000);
    const rows = await again.query<{ n: string; max: number | null }>(
      "SELECT count(*) AS n, max(id) AS max FROM w",
    );
    assert.ok(Number(rows[0].n) >= archived, `rows up to ${archived} were archived; ${rows[0].n} came back`);
    assert.equal(Number(rows[0].n), rows[0].max, "no holes: the rows that came back are a prefix");
    await terminate(again);
  });
});

describe("readers and a second writer on a running primary's stanza", () => {
  let primary: RunningAgent;
  let batch1End: string;
  before(async () => {
    primary = await start("archive-readers-primary", "shared", { id: "c-primary" });
    await primary.waitForStatus("running", 60_000);
    await waitForBackup(primary, "shared");
    await primary.query("CREATE TABLE b (id int, batch int)");
    await primary.query("INSERT INTO b SELECT g, 1 FROM generate_series(1, 100) g");
    [{ l: batch1End }] = await primary.query<{ l: string }>("SELECT pg_current_wal_lsn()::text AS l");
    await primary.query("INSERT INTO b SELECT g, 2 FROM generate_series(101, 200) g");
    await archiveUpTo(primary);
  });

  test("Static at an LSN between two batches shows the first only and refuses writes", async () => {
    const stat = await start("archive-static", "shared", { mode: { Static: batch1End } });
    await stat.waitForStatus("running", 60_000);
    const [{ n, batches }] = await stat.query<{ n: string; batches: number[] }>(
      "SELECT count(*) AS n, array_agg(DISTINCT batch) AS batches FROM b",
    );
    assert.equal(Number(n), 100);
    assert.deepEqual(batches, [1]);
    const [{ paused }] = await stat.query<{ paused: string }>(
      "SELECT pg_get_wal_replay_pause_state() AS paused",
    );
    assert.equal(paused, "paused");
    await assert.rejects(stat.query("INSERT INTO b VALUES (0, 0)"), /read-only/);
    await stat.stop();
  });

  test("a Replica follows new commits of the running primary through the archive", async () => {
    const replica = await start("archive-replica", "shared", { mode: "Replica" });
    await replica.waitForStatus("running", 60_000);
    // Running once consistent (like a streaming replica); it then catches up with the archive.
    await eventually("the replica replays what was archived before it started", 30_000, async () => {
      const [{ n }] = await replica.query<{ n: string }>("SELECT count(*) AS n FROM b");
      return Number(n) === 200;
    });
    await primary.query("INSERT INTO b SELECT g, 3 FROM generate_series(201, 250) g");
    await archiveUpTo(primary);
    await eventually("the replica replays the new batch", 30_000, async () => {
      const [{ c }] = await replica.query<{ c: string }>("SELECT count(*) AS c FROM b WHERE batch = 3");
      return Number(c) === 50;
    });
    await assert.rejects(replica.query("INSERT INTO b VALUES (0, 0)"), /read-only/);
    await replica.stop();
  });

  test("a second primary on the stanza refuses; the first keeps running and archiving", async () => {
    const second = await start("archive-second-primary", "shared", { id: "c-intruder" });
    const st = await second.waitForStatus(["failed", "running"], 60_000);
    assert.equal(st.status, "failed");
    assert.match(String(st.error), /held by compute c-primary/);
    assert.equal(postgresPidsOf(second.pgdata).length, 0, "nothing started");
    await second.exited;
    // The first primary is untouched: it still writes, and its WAL still reaches the repository.
    await primary.query("INSERT INTO b VALUES (1000, 9)");
    const [{ before }] = await primary.query<{ before: string }>(
      "SELECT archived_count AS before FROM pg_stat_archiver",
    );
    await archiveUpTo(primary);
    const [{ now }] = await primary.query<{ now: string }>(
      "SELECT archived_count AS now FROM pg_stat_archiver",
    );
    assert.ok(Number(now) > Number(before));
    assert.equal((await primary.status()).status, "running");
    const metrics = await (await primary.get("/metrics")).text();
    const pushed = /^compute_archive_pushed_total (\d+)/m.exec(metrics);
    assert.ok(pushed && Number(pushed[1]) > 0, "compute_archive_pushed_total counts archived segments");
    assert.match(metrics, /^compute_archive_last_archived_age_seconds \d/m);
    // The archive families pass the exposition-format check and promtool's naming lint.
    const problems = lintMetrics(strictParse(metrics)).filter((p) => p.metric.startsWith("compute_archive_"));
    assert.deepEqual(problems, []);
  });
  test("archiving that fails longer than archive_timeout shows in /status and the metrics, then recovers", async () => {
    const archiveDir = path.join(repo.path, "archive", "shared", "15-1");
    const dirs = [
      archiveDir,
      ...readdirSync(archiveDir)
        .filter((n) => /^[0-9A-F]{16}$/.test(n))
        .map((n) => path.join(archiveDir, n)),
    ];
    const modes = dirs.map((d) => statSync(d).mode & 0o7777);
    for (const d of dirs) chmodSync(d, 0o500);
    try {
      await primary.query("INSERT INTO b VALUES (2000, 10)");
      await primary.query("SELECT pg_switch_wal()");
      const failing = await eventually("/status reports archiving failing", 30_000, async () => {
        const archive = (await primary.status()).archive as {
          failing: boolean;
          failing_since: string | null;
        };
        return archive.failing ? archive : null;
      });
      assert.ok(failing.failing_since);
      const metrics = await (await primary.get("/metrics")).text();
      assert.match(metrics, /^compute_archive_failing 1$/m);
      assert.ok(Number(/^compute_archive_failed_total (\d+)/m.exec(metrics)?.[1]) > 0);
      assert.ok(
        primary
          .logEntries()
          .some(
            (e) =>
              e.msg ===
              "archiving a WAL file to the repository failed (Postgres retries; see archive-push in the postgres log)",
          ),
      );
      assert.equal((await primary.status()).status, "running", "the compute keeps running");
    } finally {
      for (const [i, d] of dirs.entries()) chmodSync(d, modes[i]);
    }
    await eventually("archiving works again", 60_000, async () => {
      const archive = (await primary.status()).archive as { failing: boolean; failing_since: string | null };
      return archive.failing_since === null;
    });
  });
});

describe("a broken repository", () => {
  test("a missing repository path: the start fails with the reason, nothing started", async () => {
    const agent = await startAgent({
      spec: archiveSpec("gone", { type: "posix", path: path.join(repo.path, "no-such-dir") }),
      name: "archive-missing-repo",
    });
    agents.push(agent);
    const st = await agent.waitForStatus(["failed", "running"], 30_000);
    assert.equal(st.status, "failed");
    assert.match(String(st.error), /no-such-dir of stanza gone does not exist/);
    assert.equal(postgresPidsOf(agent.pgdata).length, 0);
    assert.equal(existsSync(path.join(repo.path, "no-such-dir")), false, "nothing created in its place");
  });

  test("a damaged repository (backup.info and its copy): the start fails with pgBackRest's reason", async () => {
    const first = await start("archive-damaged-0", "damaged", { id: "c-damaged" });
    await first.waitForStatus("running", 60_000);
    await waitForBackup(first, "damaged");
    await terminate(first);
    for (const f of ["backup.info", "backup.info.copy"]) {
      writeFileSync(path.join(repo.path, "backup", "damaged", f), "[backrest]\nbackrest-format=5\ngarbage\n");
    }
    const second = await start("archive-damaged-1", "damaged", { id: "c-damaged" });
    const st = await second.waitForStatus(["failed", "running"], 60_000);
    assert.equal(st.status, "failed");
    assert.match(
      String(st.error),
      /stanza damaged in .* cannot be used: .*backup\.info|pgbackrest .* failed/,
    );
    assert.equal(postgresPidsOf(second.pgdata).length, 0);
    assert.deepEqual(readdirSync(second.pgdata), [], "nothing restored into the data directory");
  });

  test("a WAL segment missing from the archive: the start fails, no new timeline is forked", async () => {
    const first = await start("archive-gap-0", "gap", { id: "c-gap" });
    await first.waitForStatus("running", 60_000);
    await waitForBackup(first, "gap");
    await first.query("CREATE TABLE g (id int)");
    await first.query("INSERT INTO g SELECT generate_series(1, 10)");
    await archiveUpTo(first);
    await first.query("INSERT INTO g SELECT generate_series(11, 20)");
    await archiveUpTo(first);
    await terminate(first);
    // Remove an archived segment after the backup: the history cannot be replayed to its end.
    const info = stanzaInfo(agentPgbackrestConf(first), "gap");
    const dir = path.join(repo.path, "archive", "gap", "15-1", "0000000100000000");
    const stop = info.backup[0].lsn.stop;
    const segs = readdirSync(dir)
      .filter((n) => /^[0-9A-F]{24}-/.test(n))
      .sort();
    const afterBackup = segs.filter((n) => BigInt(`0x${n.slice(16, 24)}`) > parseLsn(stop) / 16777216n);
    assert.ok(afterBackup.length >= 2, `segments after the backup: ${afterBackup.join(", ")}`);
    rmSync(path.join(dir, afterBackup[0]));
    const historyBefore = historySwitchPoints("gap");

    const second = await start("archive-gap-1", "gap", { id: "c-gap" });
    const st = await second.waitForStatus(["failed", "running"], 60_000);
    assert.equal(st.status, "failed");
    assert.match(String(st.error), /recovery ended before configured recovery target was reached|stalled/);
    assert.equal(postgresPidsOf(second.pgdata).length, 0, "Postgres is not left running");
    assert.deepEqual(historySwitchPoints("gap"), historyBefore, "no timeline was forked");
  });
});
