// The `neon` data source: a compute whose data lives in Neon storage. A primary first learns the
// LSN its safekeepers agree on (fast TIMELINE_STATUS check, else `postgres --sync-safekeepers`);
// then the pageserver streams a basebackup at that LSN (static: the spec's LSN; replica: the
// latest) into PGDATA. After a primary stops, a last sync reports its final LSN.
import { copyFile, stat } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { emptyDir, writeOwnedFile, writeStandbySignal } from "./basebackup-pgdata.js";
import {
  basebackupRetryPolicy,
  type RetryPolicy,
  syncSafekeepersRetryPolicy,
  withRetries,
} from "./basebackup-retry.js";
import { describePageserver, fetchPageserverBasebackup } from "./neon-pageserver-basebackup.js";
import { checkSafekeepersSynced } from "./neon-safekeepers-check.js";
import { neonConfLines } from "./neon-settings.js";
import { basebackupPageserverUrl, type NeonStorage, resolveNeonStorage } from "./neon-storage.js";
import { syncSafekeepers } from "./neon-sync-safekeepers.js";
import type { SourceContext, SourceDriver, SourceResult } from "./source-driver.js";

export interface NeonSourceOptions {
  readonly basebackupRetryPolicy?: RetryPolicy;
  readonly syncRetryPolicy?: RetryPolicy;
  /** Per-safekeeper budget of the TIMELINE_STATUS check (default 100 ms). */
  readonly safekeeperTimeoutMs?: number;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

function syncContext(ctx: SourceContext, storage: NeonStorage) {
  return {
    pg: ctx.pg,
    osUser: ctx.osUser,
    pgdata: ctx.pgdata,
    authToken: storage.authToken,
    log: ctx.log,
    signal: ctx.signal,
  };
}

/** The LSN a primary's basebackup is taken at: where the safekeepers agree. */
async function primaryStartLsn(
  ctx: SourceContext,
  storage: NeonStorage,
  opts: NeonSourceOptions,
): Promise<string> {
  const checkStart = performance.now();
  const check = await checkSafekeepersSynced(storage, { timeoutMs: opts.safekeeperTimeoutMs });
  ctx.record("sync_sk_check_ms", Math.round(performance.now() - checkStart));
  if (check.lsn) {
    ctx.log.info({ lsn: check.lsn }, "safekeepers already synced, skipping sync-safekeepers");
    return check.lsn;
  }
  ctx.log.info({ reason: check.reason }, "safekeepers not known to be synced, running sync-safekeepers");
  // `postgres --sync-safekeepers` reads neon.safekeepers, tenant and timeline from the config.
  await writeOwnedFile(
    path.join(ctx.pgdata, "postgresql.conf"),
    `${neonConfLines(ctx.spec).join("\n")}\n`,
    ctx.osUser,
  );
  const syncStart = performance.now();
  const lsn = await withRetries(
    {
      what: "sync-safekeepers",
      policy: opts.syncRetryPolicy ?? syncSafekeepersRetryPolicy,
      log: ctx.log,
      signal: ctx.signal,
    },
    () => syncSafekeepers(syncContext(ctx, storage)),
  );
  ctx.record("sync_safekeepers_ms", Math.round(performance.now() - syncStart));
  ctx.log.info({ lsn }, "safekeepers synced");
  return lsn;
}

async function prepare(ctx: SourceContext, opts: NeonSourceOptions): Promise<SourceResult> {
  const storage = resolveNeonStorage(ctx.spec);
  const mode = ctx.spec.mode;
  const lsn =
    mode.kind === "primary"
      ? await primaryStartLsn(ctx, storage, opts)
      : mode.kind === "static"
        ? mode.lsn
        : null;
  const url = basebackupPageserverUrl(storage);
  const where = describePageserver(url);
  ctx.log.info({ pageserver: where, lsn, mode: mode.kind }, "fetching basebackup from pageserver");
  const started = performance.now();
  let result: Awaited<ReturnType<typeof fetchPageserverBasebackup>>;
  // Compressed bytes received and files unpacked; the stream has no total to tell.
  const progress = ctx.progress("pageserver_basebackup");
  try {
    await emptyDir(ctx.pgdata);
    result = await withRetries(
      {
        what: `basebackup from pageserver ${where}`,
        policy: opts.basebackupRetryPolicy ?? basebackupRetryPolicy,
        log: ctx.log,
        signal: ctx.signal,
        beforeRetry: () => emptyDir(ctx.pgdata),
      },
      () => {
        // A retry starts the stream over.
        progress.update({ bytesDone: 0, filesDone: 0 });
        return fetchPageserverBasebackup({
          url,
          tenantId: storage.tenantId,
          timelineId: storage.timelineId,
          lsn,
          computeMode: storage.computeMode,
          authToken: storage.authToken,
          pgdata: ctx.pgdata,
          osUser: ctx.osUser,
          signal: ctx.signal,
          progress,
        });
      },
    );
  } catch (err) {
    // Never leave a half-extracted cluster behind for someone to start.
    await emptyDir(ctx.pgdata).catch(() => {});
    throw err;
  } finally {
    progress.end();
  }
  ctx.record("pageserver_connect_micros", result.connectMicros);
  ctx.record("basebackup_bytes", result.bytes);
  ctx.record("basebackup_ms", Math.round(performance.now() - started));

  // Older pageservers name the marker file zenith.signal; the neon extension looks for neon.signal.
  const neonSignal = path.join(ctx.pgdata, "neon.signal");
  const zenithSignal = path.join(ctx.pgdata, "zenith.signal");
  if (!(await exists(neonSignal)) && (await exists(zenithSignal))) await copyFile(zenithSignal, neonSignal);
  if (mode.kind !== "primary") await writeStandbySignal(ctx.pgdata, ctx.osUser);
  ctx.log.info({ lsn, bytes: result.bytes }, "basebackup from pageserver ready");
  return { lsn, confLines: neonConfLines(ctx.spec) };
}

/** After a primary's Postgres stopped: the final sync, whose LSN `/terminate` reports. */
async function afterShutdown(ctx: SourceContext): Promise<string | null> {
  if (ctx.spec.mode.kind !== "primary") return null;
  const storage = resolveNeonStorage(ctx.spec);
  const started = performance.now();
  const lsn = await syncSafekeepers(syncContext(ctx, storage));
  ctx.record("sync_safekeepers_ms", Math.round(performance.now() - started));
  ctx.log.info({ lsn }, "final sync-safekeepers after shutdown");
  return lsn;
}

export function neonSource(opts: NeonSourceOptions = {}): SourceDriver {
  return { name: "neon-basebackup", prepare: (ctx) => prepare(ctx, opts), afterShutdown };
}
