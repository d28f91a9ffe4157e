// The fast path before a Neon primary starts: ask the safekeepers for TIMELINE_STATUS and, when
// a quorum already agrees on one LSN that is both committed and flushed, use it instead of
// running the slower `postgres --sync-safekeepers`. Any doubt (an unreachable safekeeper, an
// unknown timeline, disagreeing LSNs) means "not synced", never an error.
import net from "node:net";
import pg from "pg";
import { parse } from "pg-connection-string";
import { formatLsn, parseLsn } from "../../postgres/lsn.js";
import type { NeonStorage } from "./neon-storage.js";

export type TimelineStatus =
  | { readonly found: false }
  | { readonly found: true; flushLsn: bigint; commitLsn: bigint };

export interface SafekeeperCheckOptions {
  /** Per-safekeeper budget for connect + query; Neon uses 100 ms. */
  readonly timeoutMs?: number;
}

/** One safekeeper's view of the timeline (`TIMELINE_STATUS`: a row of flush_lsn, commit_lsn, or no row). */
export async function timelineStatus(
  safekeeper: string,
  storage: NeonStorage,
  timeoutMs: number,
): Promise<TimelineStatus> {
  const c = parse(`postgresql://no_user@${safekeeper}`);
  // Our own socket, so the deadline can tear it down whatever state the client is in.
  const socket = new net.Socket();
  const client = new pg.Client({
    host: c.host ?? "localhost",
    port: Number(c.port || 5454),
    user: "no_user",
    password: storage.authToken ?? undefined,
    options: `-c timeline_id=${storage.timelineId} tenant_id=${storage.tenantId}`,
    stream: () => socket,
  });
  client.on("error", () => {});
  const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    await client.connect();
    const res = await client.query<{ flush_lsn: string; commit_lsn: string }>("TIMELINE_STATUS");
    const row = res.rows[0];
    if (!row) return { found: false };
    return { found: true, flushLsn: parseLsn(row.flush_lsn), commitLsn: parseLsn(row.commit_lsn) };
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

/** The LSN a quorum of responses agrees on: all know the timeline, same commit, same flush, commit == flush. */
export function syncedLsn(responses: readonly TimelineStatus[]): bigint | null {
  if (responses.length === 0) return null;
  let lsn: bigint | null = null;
  for (const r of responses) {
    if (!r.found || r.commitLsn !== r.flushLsn) return null;
    if (lsn !== null && r.commitLsn !== lsn) return null;
    lsn = r.commitLsn;
  }
  return lsn;
}

/**
 * Asks all safekeepers at once and stops at a quorum (n/2+1) of answers or of failures.
 * Returns the synced LSN (`X/Y`) or null when the slow path must run.
 */
export async function checkSafekeepersSynced(
  storage: NeonStorage,
  opts: SafekeeperCheckOptions = {},
): Promise<{ lsn: string | null; reason: string }> {
  const sks = storage.safekeepers;
  if (sks.length === 0) return { lsn: null, reason: "no safekeepers" };
  const quorum = Math.floor(sks.length / 2) + 1;
  const timeoutMs = opts.timeoutMs ?? 100;
  const answers = await new Promise<TimelineStatus[] | string>((resolve) => {
    const ok: TimelineStatus[] = [];
    const failed: string[] = [];
    const settle = () => {
      if (ok.length >= quorum) resolve(ok.slice(0, quorum));
      else if (failed.length >= quorum || ok.length + failed.length === sks.length) {
        resolve(`only ${ok.length} of ${sks.length} safekeepers answered (${failed.join("; ")})`);
      }
    };
    for (const sk of sks) {
      timelineStatus(sk, storage, timeoutMs).then(
        (r) => {
          ok.push(r);
          settle();
        },
        (err: unknown) => {
          failed.push(`${sk}: ${err instanceof Error ? err.message : String(err)}`);
          settle();
        },
      );
    }
  });
  if (typeof answers === "string") return { lsn: null, reason: answers };
  const lsn = syncedLsn(answers);
  if (lsn === null) return { lsn: null, reason: "safekeepers in the quorum are not synced" };
  return { lsn: formatLsn(lsn), reason: "quorum synced" };
}
