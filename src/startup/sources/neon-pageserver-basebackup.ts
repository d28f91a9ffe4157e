// Fetching a Neon basebackup from a pageserver: the libpq command
// `basebackup <tenant> <timeline> [<lsn>] --gzip [--replica]` answers with COPY OUT data, a
// gzip'd tar of a data directory at that LSN. It flows socket -> gunzip -> untar into PGDATA
// with backpressure, never held whole in memory. The stream only counts when the server ends
// the COPY and gzip and tar both end cleanly: a cut-off stream is an error, not a smaller cluster.

import net from "node:net";
import { performance } from "node:perf_hooks";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import pg from "pg";
import { parse } from "pg-connection-string";
import { to as copyTo } from "pg-copy-streams";
import { x as untar } from "tar";
import type { OsUser } from "../../postgres/os-user.js";
import type { ProgressReporter } from "../../state/progress.js";

export interface PageserverBasebackupRequest {
  /** libpq URL of the pageserver, e.g. `postgres://no_user@host:6400`. */
  readonly url: string;
  readonly tenantId: string;
  readonly timelineId: string;
  /** Null: the latest LSN. */
  readonly lsn: string | null;
  readonly computeMode: "primary" | "replica" | "static";
  readonly authToken: string | null;
  readonly pgdata: string;
  readonly osUser: OsUser | null;
  readonly signal: AbortSignal;
  readonly connectTimeoutMs?: number;
  /** Told of every compressed byte received and every file unpacked. */
  readonly progress?: ProgressReporter;
}

export interface PageserverBasebackupResult {
  readonly connectMicros: number;
  /** Compressed bytes received (Neon's basebackup_bytes). */
  readonly bytes: number;
}

/** The command text; the LSN is left out when unknown and `--replica` is added for any non-primary mode. */
export function basebackupCommand(
  req: Pick<PageserverBasebackupRequest, "tenantId" | "timelineId" | "lsn" | "computeMode">,
): string {
  const parts = ["basebackup", req.tenantId, req.timelineId];
  if (req.lsn) parts.push(req.lsn);
  parts.push("--gzip");
  if (req.computeMode !== "primary") parts.push("--replica");
  return parts.join(" ");
}

/** Where a URL and its userinfo are shown, without the password. */
export function describePageserver(url: string): string {
  const c = parse(url);
  return `${c.host ?? "localhost"}:${c.port ?? 5432}`;
}

function clientFor(req: PageserverBasebackupRequest, socket: net.Socket): pg.Client {
  const c = parse(req.url);
  const client = new pg.Client({
    stream: () => socket,
    host: c.host ?? "localhost",
    port: Number(c.port || 6400),
    user: c.user || "no_user",
    database: c.database || undefined,
    password: req.authToken ?? c.password ?? undefined,
    application_name: "compute_ctl",
    options: `-c neon.compute_mode=${req.computeMode}`,
    connectionTimeoutMillis: req.connectTimeoutMs ?? 10_000,
  });
  client.on("error", () => {});
  return client;
}

export async function fetchPageserverBasebackup(
  req: PageserverBasebackupRequest,
): Promise<PageserverBasebackupResult> {
  // Our own socket: after a failure mid-stream the server may still be pushing data and would
  // not notice a polite Terminate; the socket is destroyed instead.
  const socket = new net.Socket();
  const client = clientFor(req, socket);
  const t0 = performance.now();
  let ok = false;
  try {
    await client.connect();
    const connectMicros = Math.round((performance.now() - t0) * 1000);
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        req.progress?.addBytes(chunk.length);
        done(null, chunk);
      },
    });
    const copy = client.query(copyTo(basebackupCommand(req)));
    // strict: tar warnings (a truncated entry, a bad header) are errors.
    const unpack = untar({
      cwd: req.pgdata,
      strict: true,
      onReadEntry: () => req.progress?.addFile(),
      ...(req.osUser ? { uid: req.osUser.uid, gid: req.osUser.gid } : {}),
    });
    await pipeline(copy, counter, createGunzip(), unpack, { signal: req.signal });
    ok = true;
    return { connectMicros, bytes };
  } finally {
    if (ok) await client.end().catch(() => socket.destroy());
    else socket.destroy();
  }
}
