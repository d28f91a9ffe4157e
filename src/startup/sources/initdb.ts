// The local default source: a new, empty cluster made by initdb (UTF8, C.UTF-8), whose
// bootstrap superuser is the `-C` user.
import { execa } from "execa";
import { parseConnstr } from "../../postgres/connection.js";
import { asUser } from "../../postgres/os-user.js";
import type { DataSourceStep, SourceContext, SourceResult } from "./data-source.js";

export function initdbArgs(pgdata: string, superuser: string): string[] {
  // --no-sync: every start is a fresh start, a crash means a new cluster anyway.
  return [
    "-D",
    pgdata,
    "-U",
    superuser,
    "-E",
    "UTF8",
    "--locale=C.UTF-8",
    "-A",
    "trust",
    "--no-sync",
    "--no-instructions",
  ];
}

export async function runInitdb(ctx: SourceContext, pgdata = ctx.pgdata): Promise<void> {
  const superuser = parseConnstr(ctx.connstr).user;
  const res = await execa(ctx.pg.tool("initdb"), initdbArgs(pgdata, superuser), {
    ...asUser(ctx.osUser),
    reject: false,
    all: true,
    cancelSignal: ctx.signal,
    env: { LC_ALL: "C.UTF-8" },
  });
  if (res.exitCode !== 0) throw new Error(`initdb failed (exit ${res.exitCode}): ${res.all?.trim()}`);
}

export function initdbSource(): DataSourceStep {
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
