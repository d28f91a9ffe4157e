// The `archive` data source: the compute's data lives in a pgBackRest repository (a directory or
// an S3 bucket), so a compute on vanilla Postgres is as stateless as a Neon one.
//
//   Primary, stanza missing:  lease, initdb (template cache), start, stanza-create, then a first
//                             full backup in the background (`running` does not wait for it).
//   Primary, stanza present:  lease, restore the latest backup, start as a hot standby that
//                             replays the archive to its end, promote (a new timeline), archive on.
//   Replica:                  restore, hot standby following the archive (and a primary, if given).
//   Static:                   restore a backup from before the target, replay to it, pause there.
//
// While a primary runs: archive_command pushes every segment (archive_timeout bounds what a lost
// machine loses), backups follow the spec's policy, the archiver is watched (metrics, /status),
// and the stanza lease is renewed. After a fast shutdown every remaining segment is pushed, the
// lease is released with the final LSN, and `/terminate` reports that LSN.
import { existsSync, statSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { connect, parseConnstr, withConnection } from "../../postgres/connection.js";
import { formatLsn, parseLsn } from "../../postgres/lsn.js";
import type { Postmaster } from "../../postgres/postmaster.js";
import type { ArchiveSourceJson, RecoveryTarget } from "../../spec/types.js";
import { type BackupScheduler, startBackupScheduler } from "./archive-backups.js";
import { archiveConfLines, pgbackrestPaths, renderPgbackrestConf } from "./archive-config.js";
import { resolveS3Secrets } from "./archive-credentials.js";
import { LeaseHeldError, StanzaLease } from "./archive-lease.js";
import { posixLeaseStore, s3LeaseStore } from "./archive-lease-store.js";
import { ArchiveMonitor } from "./archive-monitor.js";
import {
  findPgbackrest,
  type PgbackrestRunner,
  pgbackrestRunner,
  type StanzaBackup,
} from "./archive-pgbackrest.js";
import { replayToEndAndPromote, replayToTargetPromoted, waitForTargetPause } from "./archive-recovery.js";
import { prepareRuntimeDir, writeConfigFile } from "./archive-runtime-dir.js";
import {
  parseSegmentName,
  readControlData,
  recordEnd,
  recordLengthAt,
  segmentName,
  segmentNumber,
} from "./archive-wal.js";
import { emptyDir, writeOwnedFile } from "./basebackup-pgdata.js";
import type { RunningServices, SourceContext, SourceDriver, SourceResult } from "./source-driver.js";

export interface ArchiveSourceOptions {
  /** The initdb source (with the template cache) a first start of a stanza bootstraps from. */
  initdb(): SourceDriver;
  /** Fail a restore whose WAL replay makes no progress for this long (default 60 s). */
  readonly replayStallMs?: number;
}

type StartPlan =
  | { readonly kind: "bootstrap" }
  | {
      readonly kind: "restore";
      readonly backup: StanzaBackup;
      /** Replay must reach at least this LSN before the compute becomes a primary. */
      readonly requiredLsn: bigint;
      /** The last primary stopped cleanly at this checkpoint: recovery stops there and promotes itself. */
      readonly stopAt: bigint | null;
    };

function repoDescription(a: ArchiveSourceJson): string {
  return a.repo.type === "posix" ? a.repo.path : `s3://${a.repo.bucket}${a.repo.path}`;
}

/** The newest backup a restore can start from (before the target, for Static). */
export function chooseBackup(
  backups: readonly StanzaBackup[],
  target: RecoveryTarget | null,
  stanza: string,
): StanzaBackup {
  const good = backups.filter((b) => !b.error);
  const usable = good.filter((b) => {
    if (!target) return true;
    if (target.kind === "lsn") return parseLsn(b.stopLsn) <= parseLsn(target.lsn);
    return b.stopTime * 1000 <= Date.parse(target.time);
  });
  const chosen = usable.at(-1);
  if (!chosen) {
    const what = target ? (target.kind === "lsn" ? `LSN ${target.lsn}` : `time ${target.time}`) : "now";
    const first = good[0];
    throw new Error(
      `no backup of stanza ${stanza} is consistent before ${what}` +
        (first
          ? ` (the oldest ends at LSN ${first.stopLsn}, ${new Date(first.stopTime * 1000).toISOString()})`
          : ""),
    );
  }
  return chosen;
}

class ArchiveSession {
  readonly #ctx: SourceContext;
  readonly #archive: ArchiveSourceJson;
  readonly #target: RecoveryTarget | null;
  #runner: PgbackrestRunner | null = null;
  #lease: StanzaLease | null = null;
  #plan: StartPlan | null = null;
  #postmaster: Postmaster | null = null;
  #monitor: ArchiveMonitor | null = null;
  #backups: BackupScheduler | null = null;
  #released = false;
  /** Postgres ran as a primary on the stanza in this session (bootstrap, or recovery ending). */
  #wrote = false;
  /** The stanza has a complete backup (false after a bootstrap until its first backup is done). */
  #hasBackup = true;

  constructor(
    ctx: SourceContext,
    private readonly opts: ArchiveSourceOptions,
  ) {
    const source = ctx.spec.source;
    if (source.kind !== "archive") throw new Error(`archive source used with a ${source.kind} spec`);
    this.#ctx = ctx;
    this.#archive = source.archive;
    this.#target = source.target;
  }

  get #mode() {
    return this.#ctx.spec.mode.kind;
  }

  get #log() {
    return this.#ctx.log;
  }

  #need<T>(v: T | null, what: string): T {
    if (v === null) throw new Error(`archive source: ${what} used before prepare`);
    return v;
  }

  async prepare(): Promise<SourceResult> {
    const ctx = this.#ctx;
    const a = this.#archive;
    const exe = findPgbackrest();
    const paths = pgbackrestPaths(ctx.runtimeDir);
    prepareRuntimeDir(ctx.runtimeDir, paths, ctx.osUser);
    const c = parseConnstr(ctx.connstr);
    const ownSocket = c.host.startsWith("/") ? null : paths.socket;
    // pgBackRest reaches Postgres over a Unix socket only; its path has the kernel's 107-byte limit.
    const socketFile = `${ownSocket}/.s.PGSQL.${c.port}`;
    if (ownSocket && Buffer.byteLength(socketFile) > 107) {
      throw new Error(
        `the Unix socket ${socketFile} would be longer than 107 bytes: give a shorter --runtime-dir`,
      );
    }
    const secrets = await resolveS3Secrets(a.repo);
    const pgEndpoint = {
      pgdata: ctx.pgdata,
      port: c.port,
      socketDir: ownSocket ?? c.host,
      user: c.user,
      database: c.database,
    };
    writeConfigFile(paths, renderPgbackrestConf(a, paths, pgEndpoint, secrets), ctx.osUser);
    const runner = pgbackrestRunner({
      exe,
      config: paths.config,
      stanza: a.stanza,
      osUser: ctx.osUser,
      log: this.#log,
    });
    this.#runner = runner;
    const confLines = archiveConfLines({
      archive: a,
      mode: ctx.spec.mode,
      target: this.#target,
      exe,
      configFile: paths.config,
      socketDir: ownSocket,
    });
    if (a.repo.type === "posix" && !statSync(a.repo.path, { throwIfNoEntry: false })?.isDirectory()) {
      throw new Error(`repository ${a.repo.path} of stanza ${a.stanza} does not exist or is not a directory`);
    }
    this.#log.info({ stanza: a.stanza, repo: repoDescription(a), mode: this.#mode }, "opening the archive");

    if (this.#mode === "primary") {
      const store =
        a.repo.type === "posix"
          ? posixLeaseStore(a.repo.path, a.stanza, ctx.osUser)
          : s3LeaseStore(a.repo, a.stanza, secrets as NonNullable<typeof secrets>);
      this.#lease = await StanzaLease.acquire({
        store,
        stanza: a.stanza,
        holder: ctx.computeId ?? `${os.hostname()}:${ctx.pgdata}`,
        ttlS: a.lease_ttl_seconds,
        log: this.#log,
      }).catch((err: unknown) => {
        if (err instanceof LeaseHeldError) throw err;
        throw new Error(
          `cannot take the lease of stanza ${a.stanza} in ${store.where}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      });
      this.#lease.startRenewing((reason) => this.#fence(reason));
    }

    const info = await runner.info(ctx.signal);
    const where = `stanza ${a.stanza} in ${repoDescription(a)}`;
    if (info.code === 1) {
      if (this.#mode !== "primary") {
        throw new Error(`${where} does not exist: a ${this.#mode} compute needs a stanza with a backup`);
      }
      if (!a.bootstrap) throw new Error(`${where} does not exist and the spec says bootstrap: false`);
      this.#plan = { kind: "bootstrap" };
      this.#hasBackup = false;
      this.#log.info({ stanza: a.stanza }, "the stanza does not exist: bootstrapping a new cluster");
      await this.opts.initdb().prepare(ctx);
      return { lsn: null, confLines };
    }
    if (info.code === 2) {
      throw new Error(
        `${where} has no complete backup (${info.message}); the first start of the stanza stopped before its ` +
          "first backup finished. Its WAL cannot be restored without one: delete the stanza " +
          `(pgbackrest stanza-delete --stanza=${a.stanza} --force) to start it afresh`,
      );
    }
    if (info.code !== 0)
      throw new Error(`${where} cannot be used: ${info.message} (pgBackRest status ${info.code})`);

    const backup = chooseBackup(info.backups, this.#target, a.stanza);
    await this.#restore(runner, backup);
    const control = await readControlData(ctx.pg, ctx.osUser, ctx.pgdata);
    let requiredLsn = parseLsn(backup.stopLsn);
    const max = info.archiveMax ? parseSegmentName(info.archiveMax, control.segSize) : null;
    if (max) requiredLsn = bigMax(requiredLsn, max.segno * BigInt(control.segSize));
    const prev = this.#lease?.previous;
    const clean = prev?.state === "released" && prev.checkpoint_lsn && prev.final_lsn ? prev : null;
    if (clean?.final_lsn) requiredLsn = bigMax(requiredLsn, parseLsn(clean.final_lsn));
    const stopAt = clean?.checkpoint_lsn ? parseLsn(clean.checkpoint_lsn) : null;
    this.#plan = { kind: "restore", backup, requiredLsn, stopAt };
    for (const f of ["recovery.signal", "standby.signal"])
      await rm(path.join(ctx.pgdata, f), { force: true });
    // After a clean stop the end is known: recovery stops at the last primary's shutdown
    // checkpoint and promotes itself (and fails if the archive ends before it). Otherwise a
    // primary replays as a standby and the agent promotes it at the end of the archive.
    // Static stops at its target (and fails when the archive ends before it).
    const targeted = this.#mode === "static" || (this.#mode === "primary" && stopAt !== null);
    await writeOwnedFile(
      path.join(ctx.pgdata, targeted ? "recovery.signal" : "standby.signal"),
      "",
      ctx.osUser,
    );
    if (this.#mode === "primary" && stopAt !== null) {
      confLines.push(
        `recovery_target_lsn = '${formatLsn(stopAt)}'`,
        "recovery_target_inclusive = on",
        "recovery_target_action = 'promote'",
      );
    }
    if (this.#lease) await this.#lease.verify();
    this.#log.info(
      {
        backup: backup.label,
        required_lsn: formatLsn(requiredLsn),
        stop_at: stopAt === null ? null : formatLsn(stopAt),
        previous_final_lsn: clean?.final_lsn ?? null,
      },
      "restored; WAL replay follows",
    );
    return { lsn: backup.stopLsn, confLines };
  }

  async #restore(runner: PgbackrestRunner, backup: StanzaBackup): Promise<void> {
    const ctx = this.#ctx;
    const t0 = performance.now();
    this.#log.info({ backup: backup.label, type: backup.type, bytes: backup.size }, "restoring backup");
    const progress = ctx.progress("restore");
    progress.update({ bytesDone: 0, bytesTotal: backup.size, filesDone: 0 });
    let files = 0;
    try {
      await runner.run(
        "restore",
        ["--type=none", `--set=${backup.label}`, `--pg1-path=${ctx.pgdata}`, "--log-level-console=detail"],
        {
          signal: ctx.signal,
          onLine: (line) => {
            const m = /restore file .* \([^,]+, ([\d.]+)%\)/.exec(line);
            if (!m) return;
            files++;
            progress.update({
              bytesDone: Math.round((Number(m[1]) / 100) * backup.size),
              bytesTotal: backup.size,
              filesDone: files,
            });
          },
        },
      );
    } catch (err) {
      // Never leave a half-restored cluster behind for someone to start.
      await emptyDir(ctx.pgdata).catch(() => {});
      throw err;
    } finally {
      progress.end();
    }
    ctx.record("basebackup_ms", Math.round(performance.now() - t0));
    ctx.record("basebackup_bytes", backup.size);
  }

  async afterStart(pm: Postmaster): Promise<void> {
    this.#postmaster = pm;
    await this.#afterStart(pm);
  }

  async #afterStart(pm: Postmaster): Promise<void> {
    const plan = this.#need(this.#plan, "afterStart");
    const runner = this.#need(this.#runner, "afterStart");
    const ctx = this.#ctx;
    if (plan.kind === "bootstrap") {
      this.#wrote = true;
      await this.#lease?.verify();
      const t0 = performance.now();
      await runner.run("stanza-create", ["--log-level-console=warn"], { signal: ctx.signal });
      ctx.record("stanza_create_ms", Math.round(performance.now() - t0));
      this.#log.info(
        { stanza: this.#archive.stanza },
        "stanza created; the first full backup runs once the compute runs",
      );
      return;
    }
    if (this.#mode === "replica") {
      this.#log.info("replica is consistent and follows the archive");
      return;
    }
    const client = await connect(
      { connstr: ctx.connstr },
      { applicationName: "compute_ctl:archive_recovery" },
    );
    try {
      const watch = {
        client,
        log: this.#log,
        signal: ctx.signal,
        exited: pm.exited,
        describeExit: () => pm.describeFailure(),
        stallMs: this.opts.replayStallMs ?? 60_000,
        progress: ctx.progress("wal_replay"),
        fromLsn: parseLsn(plan.backup.startLsn),
      };
      const t0 = performance.now();
      if (this.#mode === "static") {
        const t = this.#target;
        const at = await waitForTargetPause({ ...watch, goal: t?.kind === "lsn" ? parseLsn(t.lsn) : null });
        this.#log.info({ lsn: at }, "static compute: recovery paused at its target");
      } else if (plan.stopAt !== null) {
        this.#wrote = true;
        const done = await replayToTargetPromoted({ ...watch, goal: plan.requiredLsn });
        this.#log.info(
          { lsn: done.endLsn, timeline: done.timeline },
          "replayed to the last shutdown checkpoint and promoted",
        );
      } else {
        const done = await replayToEndAndPromote({
          ...watch,
          requiredLsn: plan.requiredLsn,
          beforePromote: async () => {
            await this.#lease?.verify();
            this.#wrote = true;
          },
        });
        this.#log.info(
          { lsn: done.endLsn, timeline: done.timeline },
          "replayed the archive to its end and promoted",
        );
      }
      ctx.record("wal_replay_ms", Math.round(performance.now() - t0));
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** The lease was taken over or could not be renewed: stop writing at once. */
  #fence(reason: string): void {
    this.#log.error(
      { reason },
      "stanza lease lost: stopping Postgres immediately (another primary may own the stanza)",
    );
    this.#postmaster?.signal("SIGQUIT");
  }

  async whileRunning(services: RunningServices): Promise<{ stop(): Promise<void> } | null> {
    if (this.#mode !== "primary") return null;
    const ctx = this.#ctx;
    const monitor = new ArchiveMonitor({
      connstr: ctx.connstr,
      archiveTimeoutS: this.#archive.archive_timeout_seconds,
      registry: services.registry,
      log: this.#log.child({ component: "archive_monitor" }),
    });
    monitor.start();
    this.#monitor = monitor;
    this.#backups = startBackupScheduler({
      runner: this.#need(this.#runner, "whileRunning"),
      policy: this.#archive.backup,
      log: this.#log.child({ component: "backup" }),
      events: {
        started: () => {},
        finished: (_type, ok) => {
          if (ok) this.#hasBackup = true;
        },
      },
      currentLsn: () =>
        withConnection(
          { connstr: ctx.connstr },
          { applicationName: "compute_ctl:backup_policy" },
          async (c) => {
            const { rows } = await c.query<{ l: string }>("SELECT pg_current_wal_lsn()::text AS l");
            return parseLsn(rows[0].l);
          },
        ).catch(() => null),
    });
    const backups = this.#backups;
    return {
      stop: async () => {
        await Promise.all([monitor.stop(), backups.stop()]);
      },
    };
  }

  status(): Record<string, unknown> | null {
    if (!this.#monitor) return null;
    return {
      archive: {
        stanza: this.#archive.stanza,
        ...this.#monitor.health(),
        backup_running: this.#backups?.running ?? false,
        last_backup_error: this.#backups?.lastError ?? null,
      },
    };
  }

  /**
   * Before a fast shutdown: a new stanza must have its first backup (without one its WAL cannot
   * be restored), so wait for the one that runs, or take it now.
   */
  async beforeShutdown(): Promise<void> {
    if (this.#hasBackup || this.#plan?.kind !== "bootstrap" || this.#lease?.lost) return;
    this.#log.info("the new stanza has no backup yet: finishing its first backup before stopping Postgres");
    await this.#backups?.firstBackup();
    if (this.#hasBackup) return;
    const t0 = performance.now();
    await this.#need(this.#runner, "beforeShutdown").run("backup", [
      "--type=full",
      "--log-level-console=warn",
    ]);
    this.#hasBackup = true;
    this.#log.info({ duration_ms: Math.round(performance.now() - t0) }, "first backup of the stanza done");
  }

  /** After a fast shutdown of a primary: push what is left, release the lease with the final LSN. */
  async afterShutdown(): Promise<string | null> {
    const lease = this.#lease;
    if (this.#mode !== "primary" || !lease || lease.lost) return null;
    await this.#backups?.stop();
    const t0 = performance.now();
    const final = await this.#pushRemainingWal();
    this.#ctx.record("archive_final_push_ms", Math.round(performance.now() - t0));
    this.#released = true;
    await lease
      .release(final)
      .catch((err: unknown) => this.#log.error({ err }, "could not release the stanza lease"));
    return final?.lsn ?? null;
  }

  /** Every segment Postgres did not archive, and the one holding the shutdown checkpoint. */
  async #pushRemainingWal(): Promise<{ lsn: string; checkpointLsn: string; timeline: number } | null> {
    const ctx = this.#ctx;
    const runner = this.#need(this.#runner, "afterShutdown");
    const walDir = path.join(ctx.pgdata, "pg_wal");
    const statusDir = path.join(walDir, "archive_status");
    const status = await readdir(statusDir).catch(() => [] as string[]);
    const push = new Set(status.filter((n) => n.endsWith(".ready")).map((n) => n.slice(0, -".ready".length)));
    const cd = await readControlData(ctx.pg, ctx.osUser, ctx.pgdata);
    let final: { lsn: string; checkpointLsn: string; timeline: number } | null = null;
    if (cd.state === "shut down") {
      const len = await recordLengthAt(walDir, cd.timeline, cd.checkpointLsn, cd.segSize);
      const end = recordEnd(cd.checkpointLsn, len, cd.segSize);
      for (
        let seg = segmentNumber(cd.checkpointLsn, cd.segSize);
        seg <= segmentNumber(end - 1n, cd.segSize);
        seg++
      ) {
        const name = segmentName(cd.timeline, seg, cd.segSize);
        if (!status.includes(`${name}.done`)) push.add(name);
      }
      final = { lsn: formatLsn(end), checkpointLsn: formatLsn(cd.checkpointLsn), timeline: cd.timeline };
    } else {
      // An immediate stop or a crash: no final LSN, but what Postgres wrote is still in pg_wal.
      // Push the segments from the last checkpoint to the one written last (newer names are
      // recycled segments holding old WAL).
      for (const name of await this.#segmentsWrittenSince(walDir, cd.checkpointLsn, cd.segSize)) {
        if (!status.includes(`${name}.done`)) push.add(name);
      }
      this.#log.warn(
        { state: cd.state },
        "Postgres did not shut down cleanly: pushing what it wrote, no final LSN",
      );
    }
    for (const name of [...push].sort()) {
      const file = path.join(walDir, name);
      if (!existsSync(file)) continue;
      await retry(3, async () => {
        await runner.run("archive-push", ["--no-archive-async", "--log-level-console=warn"], {
          positional: [file],
        });
      }).catch((err: unknown) => {
        final = null;
        this.#log.error({ err, wal: name }, "could not push a WAL file to the repository after shutdown");
      });
    }
    this.#log.info(
      { pushed: [...push].sort(), final_lsn: final?.lsn ?? null },
      "remaining WAL pushed after shutdown",
    );
    return final;
  }

  /** WAL segment files with a number from `fromLsn`'s up to the most recently written one. */
  async #segmentsWrittenSince(walDir: string, fromLsn: bigint, segSize: number): Promise<string[]> {
    const segs: { name: string; tli: number; segno: bigint; mtime: number }[] = [];
    for (const name of await readdir(walDir)) {
      const parsed = parseSegmentName(name, segSize);
      if (!parsed) continue;
      const st = statSync(path.join(walDir, name), { throwIfNoEntry: false });
      if (st) segs.push({ name, ...parsed, mtime: st.mtimeMs });
    }
    const newest = segs.reduce<(typeof segs)[number] | null>(
      (a, b) => (!a || b.mtime > a.mtime ? b : a),
      null,
    );
    if (!newest) return [];
    const from = segmentNumber(fromLsn, segSize);
    return segs
      .filter((x) => x.tli === newest.tli && x.segno >= from && x.segno <= newest.segno)
      .map((x) => x.name);
  }

  /**
   * As the agent exits: a lease still held (start failed, immediate stop, crash) is released
   * without a final LSN - after pushing what a primary that stopped that way left in pg_wal.
   */
  async release(): Promise<void> {
    await Promise.all([this.#monitor?.stop(), this.#backups?.stop()]);
    const lease = this.#lease;
    if (!lease || this.#released) return;
    this.#released = true;
    if (this.#wrote && !lease.lost && this.#postmaster && !this.#postmaster.running) {
      await this.#pushRemainingWal().catch((err: unknown) =>
        this.#log.error({ err }, "could not push the remaining WAL after Postgres stopped"),
      );
    }
    await lease
      .release(null, this.#wrote)
      .catch((err: unknown) => this.#log.error({ err }, "could not release the stanza lease"));
  }
}

function bigMax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

async function retry(times: number, fn: () => Promise<void>): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= times) throw err;
      await new Promise((r) => setTimeout(r, 500 * i));
    }
  }
}

export function archiveSource(opts: ArchiveSourceOptions): SourceDriver {
  let session: ArchiveSession | null = null;
  const need = () => {
    if (!session) throw new Error("archive source: prepare has not run");
    return session;
  };
  return {
    name: "archive",
    async prepare(ctx) {
      session = new ArchiveSession(ctx, opts);
      return session.prepare();
    },
    afterStart: (_ctx, pm) => need().afterStart(pm),
    afterShutdown: async () => (session ? session.afterShutdown() : null),
    beforeShutdown: async () => session?.beforeShutdown(),
    whileRunning: async (_ctx, services) => (session ? session.whileRunning(services) : null),
    status: () => session?.status() ?? null,
    release: async () => {
      await session?.release();
    },
  };
}
