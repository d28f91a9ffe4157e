// Helpers for tests of the archive source: a posix pgBackRest repository in a temp dir, archive
// specs, pgBackRest's view of a stanza (through the agent's own config file), and waiting for
// WAL to reach the repository.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { minimalSpec, type RunningAgent } from "./agent.js";
import { pgOsUser, tempDir } from "./postgres.js";

export interface TestRepo {
  readonly path: string;
  cleanup(): void;
}

export function makeRepo(): TestRepo {
  const dir = tempDir("ccr-");
  // Retries: a pgBackRest async push of a compute that just stopped may still be finishing.
  return {
    path: dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }),
  };
}

export function archiveSpec(
  stanza: string,
  repo: Record<string, unknown>,
  extra: { source?: Record<string, unknown>; mode?: unknown } = {},
): Record<string, unknown> {
  return minimalSpec({
    ...(extra.mode === undefined ? {} : { mode: extra.mode }),
    source: {
      kind: "archive",
      stanza,
      repo,
      archive_timeout_seconds: 2,
      lease_ttl_seconds: 6,
      ...extra.source,
    },
  });
}

/** The pgBackRest config the agent wrote for itself. */
export function agentPgbackrestConf(agent: RunningAgent): string {
  return path.join(`${agent.pgdata}.run`, "pgbackrest", "pgbackrest.conf");
}

export interface InfoBackup {
  label: string;
  type: string;
  lsn: { start: string; stop: string };
}

/** `pgbackrest info` of a stanza, run like the agent runs it (as the Postgres user). */
export function stanzaInfo(
  conf: string,
  stanza: string,
): { code: number; backup: InfoBackup[]; archiveMax: string | null } {
  const out = execFileSync(
    "pgbackrest",
    [`--config=${conf}`, `--stanza=${stanza}`, "--output=json", "info"],
    {
      encoding: "utf8",
      ...(pgOsUser ? { uid: pgOsUser.uid, gid: pgOsUser.gid } : {}),
    },
  );
  const s = JSON.parse(out)[0];
  return { code: s.status.code, backup: s.backup ?? [], archiveMax: s.archive?.at(-1)?.max ?? null };
}

export async function eventually<T>(
  what: string,
  ms: number,
  fn: () => Promise<T | null | undefined | false>,
): Promise<T> {
  const end = Date.now() + ms;
  let lastErr: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v !== null && v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > end)
      throw new Error(`${what}: not within ${ms} ms${lastErr ? ` (${String(lastErr)})` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the stanza has a complete backup (the first one runs in the background). */
export async function waitForBackup(agent: RunningAgent, stanza: string, count = 1): Promise<InfoBackup[]> {
  return eventually(`${count} backup(s) of ${stanza}`, 60_000, async () => {
    const info = stanzaInfo(agentPgbackrestConf(agent), stanza);
    return info.backup.length >= count ? info.backup : null;
  });
}

/** Switches WAL and waits until the segment holding `lsn` (default: now) is in the repository. */
export async function archiveUpTo(agent: RunningAgent, lsn?: string): Promise<string> {
  const [{ at, seg }] = await agent.query<{ at: string; seg: string }>(
    "SELECT l::text AS at, pg_walfile_name(l) AS seg FROM (SELECT coalesce($1::pg_lsn, pg_current_wal_lsn()) AS l) x",
    [lsn ?? null],
  );
  await agent.query("SELECT pg_switch_wal()");
  await eventually(`segment ${seg} archived`, 30_000, async () => {
    const [{ last }] = await agent.query<{ last: string | null }>(
      "SELECT last_archived_wal AS last FROM pg_stat_archiver",
    );
    return last !== null && last.slice(0, 24) >= seg;
  });
  return at;
}
