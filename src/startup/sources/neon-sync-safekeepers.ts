// `postgres --sync-safekeepers`: Neon's Postgres build brings the safekeepers of a timeline to
// agreement and prints the LSN they agreed on. A primary's basebackup must be taken at that LSN,
// and after a primary stops, a last run reports the final LSN. Vanilla Postgres has no such
// mode: that is reported as such, not retried.
import { execa } from "execa";
import type { Logger } from "pino";
import type { PgBinaries } from "../../postgres/binaries.js";
import { formatLsn, parseLsn } from "../../postgres/lsn.js";
import { asUser, type OsUser } from "../../postgres/os-user.js";
import { PermanentError } from "./basebackup-retry.js";

export interface SyncSafekeepersContext {
  readonly pg: PgBinaries;
  readonly osUser: OsUser | null;
  readonly pgdata: string;
  readonly authToken: string | null;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

// What a postgres without the mode answers: the long option is taken for a `--name=value` GUC.
const UNSUPPORTED =
  /--sync-safekeepers requires a value|unrecognized configuration parameter|invalid option/i;

function stderrTail(text: string): string {
  return text.trim().split("\n").slice(-5).join(" | ");
}

/** Runs `postgres --sync-safekeepers` once; returns the LSN it printed (`X/Y`). */
export async function syncSafekeepers(ctx: SyncSafekeepersContext): Promise<string> {
  const env: Record<string, string> = { PGDATA: ctx.pgdata };
  if (ctx.authToken) env.NEON_AUTH_TOKEN = ctx.authToken;
  const r = await execa(ctx.pg.postgres, ["--sync-safekeepers"], {
    ...asUser(ctx.osUser),
    env,
    cwd: ctx.pgdata,
    stdin: "ignore",
    reject: false,
    // Neon sends SIGTERM to a running sync on terminate; execa's default kill signal.
    cancelSignal: ctx.signal,
  });
  const stderr = String(r.stderr ?? "");
  for (const line of stderr.split("\n")) if (line.trim()) ctx.log.info({ src: "sync-safekeepers" }, line);
  if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error("aborted");
  if (r.exitCode !== 0) {
    if (UNSUPPORTED.test(stderr)) {
      throw new PermanentError(
        `${ctx.pg.postgres} does not support --sync-safekeepers (vanilla Postgres?): a Neon primary needs ` +
          "Neon's Postgres build, or safekeepers that are already synced",
      );
    }
    throw new Error(
      `postgres --sync-safekeepers exited with ${r.exitCode ?? r.signal}: ${stderrTail(stderr)}`,
    );
  }
  const out = String(r.stdout ?? "").trim();
  try {
    return formatLsn(parseLsn(out));
  } catch {
    throw new Error(`postgres --sync-safekeepers printed no LSN: ${JSON.stringify(out.slice(0, 200))}`);
  }
}
