// The local default source: a new, empty cluster made by initdb (UTF8, C.UTF-8), whose
// bootstrap superuser is the `-C` user. `template-cache-source.ts` wraps it with a cache.

import type { PgBinaries } from "../../postgres/binaries.js";
import { parseConnstr } from "../../postgres/connection.js";
import { asUser, type OsUser } from "../../postgres/os-user.js";
import { runToExit } from "./run-to-exit.js";
import type { SourceContext, SourceDriver, SourceResult } from "./source-driver.js";
import { fileIdentity, type TemplateKey } from "./template-cache-key.js";
import type { TemplateStaging } from "./template-staging.js";

/** LC_ALL initdb runs under (the cluster's default collation and ctype). */
export const INITDB_LOCALE = "C.UTF-8";

/** initdb's arguments except the data directory: what the resulting cluster depends on. */
export function initdbOptions(superuser: string): string[] {
  // --no-sync: every start is a fresh start, a crash means a new cluster anyway.
  return [
    "-U",
    superuser,
    "-E",
    "UTF8",
    `--locale=${INITDB_LOCALE}`,
    "-A",
    "trust",
    "--no-sync",
    "--no-instructions",
  ];
}

export function initdbArgs(pgdata: string, superuser: string): string[] {
  return ["-D", pgdata, ...initdbOptions(superuser)];
}

/** The bootstrap superuser: the user of the `-C` connection string. */
export function initdbSuperuser(ctx: Pick<SourceContext, "connstr">): string {
  return parseConnstr(ctx.connstr).user;
}

/** What the cluster initdb makes here depends on (the template cache's key), known at launch. */
export function templateKey(ctx: Pick<SourceContext, "connstr" | "osUser" | "pg">): TemplateKey {
  const superuser = initdbSuperuser(ctx);
  return {
    initdbArgs: initdbOptions(superuser),
    locale: INITDB_LOCALE,
    uid: ctx.osUser?.uid ?? process.getuid?.() ?? -1,
    superuser,
    binaries: [fileIdentity(ctx.pg.postgres), fileIdentity(ctx.pg.tool("initdb"))],
  };
}

export interface InitdbRun {
  readonly pg: PgBinaries;
  readonly osUser: OsUser | null;
  readonly superuser: string;
  readonly pgdata: string;
  readonly signal?: AbortSignal;
}

/**
 * Runs initdb into `pgdata` (empty or absent) as the Postgres OS user. node:child_process, not
 * execa: a launch runs it before the agent's modules have loaded (startup/head-start.ts), and
 * execa's loading would cost tens of ms there.
 */
export function spawnInitdb(run: InitdbRun): Promise<void> {
  return runToExit(
    run.pg.tool("initdb"),
    initdbArgs(run.pgdata, run.superuser),
    { ...asUser(run.osUser), env: { ...process.env, LC_ALL: INITDB_LOCALE } },
    { what: "initdb", signal: run.signal, abortWith: "SIGTERM" },
  );
}

export function runInitdb(ctx: SourceContext, pgdata = ctx.pgdata): Promise<void> {
  return spawnInitdb({
    pg: ctx.pg,
    osUser: ctx.osUser,
    superuser: initdbSuperuser(ctx),
    pgdata,
    signal: ctx.signal,
  });
}

/**
 * initdb straight into the data directory, no cache (`--no-template-cache`); with `staging`, the
 * cluster a launch's head start made beside it is renamed into place instead.
 */
export function initdbSource(staging: TemplateStaging | null = null): SourceDriver {
  return {
    name: "initdb",
    async prepare(ctx): Promise<SourceResult> {
      const t0 = performance.now();
      if (staging && (await staging.take(ctx.pgdata, templateKey(ctx), null))) {
        ctx.record("initdb_staged_ms", performance.now() - t0);
        ctx.log.info(
          { duration_ms: Math.round(performance.now() - t0) },
          "data directory renamed into place from staging",
        );
        return { lsn: null, confLines: [] };
      }
      await runInitdb(ctx);
      ctx.record("initdb_ms", performance.now() - t0);
      return { lsn: null, confLines: [] };
    },
  };
}
