// The local default source: a new, empty cluster made by initdb (UTF8, C.UTF-8), whose
// bootstrap superuser is the `-C` user. `template-cache-source.ts` wraps it with a cache.
import * as load from "../../loading/modules.js";
import { parseConnstr } from "../../postgres/connection.js";
import { asUser } from "../../postgres/os-user.js";
import type { SourceContext, SourceDriver, SourceResult } from "./source-driver.js";

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

export async function runInitdb(ctx: SourceContext, pgdata = ctx.pgdata): Promise<void> {
  // execa is loaded here, not at module load: it costs tens of ms of the agent's start time and
  // a start from the template cache never runs a tool.
  const { execa } = await load.execa();
  const res = await execa(ctx.pg.tool("initdb"), initdbArgs(pgdata, initdbSuperuser(ctx)), {
    ...asUser(ctx.osUser),
    reject: false,
    all: true,
    cancelSignal: ctx.signal,
    env: { LC_ALL: INITDB_LOCALE },
  });
  if (res.exitCode !== 0) throw new Error(`initdb failed (exit ${res.exitCode}): ${res.all?.trim()}`);
}

/** initdb straight into the data directory, no cache (`--no-template-cache`). */
export function initdbSource(): SourceDriver {
  return {
    name: "initdb",
    async prepare(ctx): Promise<SourceResult> {
      const t0 = performance.now();
      await runInitdb(ctx);
      ctx.record("initdb_ms", performance.now() - t0);
      return { lsn: null, confLines: [] };
    },
  };
}
