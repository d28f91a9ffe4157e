// Vanilla Postgres's stand-in for the LFC resize: `effective_cache_size` = shared_buffers + the
// cache size Neon would give the LFC for this memory. It is the planner's estimate of cached data;
// it allocates nothing, so lowering it on downscale can never strand memory, and it changes with
// a reload. The OS page cache that it describes grows and shrinks with the VM by itself.
import type { Logger } from "pino";
import type { ManagedCache } from "./managed-cache.js";
import type { MonitorPgSession } from "./monitor-pg-session.js";
import { calculateCacheSize, formatMebibytes, MiB } from "./scaling-config.js";

export class PlannerCacheSize implements ManagedCache {
  readonly setting = "effective_cache_size";

  constructor(
    private readonly session: MonitorPgSession,
    private readonly log: Logger,
  ) {}

  async resize(totalBytes: number): Promise<string> {
    const cache = calculateCacheSize(totalBytes);
    const [row] = await this.session.read<{ shared_buffers: string }>(
      "SELECT pg_size_bytes(current_setting('shared_buffers')) AS shared_buffers",
    );
    if (!row) throw new Error("shared_buffers query returned no rows");
    const sharedBuffers = Number(row.shared_buffers);
    // Whole MiB, at least 1: the setting's unit is 8 kB pages, MB keeps the value readable.
    const mb = Math.max(1, Math.floor((sharedBuffers + cache) / MiB));
    await this.session.execute(`ALTER SYSTEM SET effective_cache_size = '${mb}MB'`);
    await this.session.execute("SELECT pg_reload_conf()");
    this.log.info({ effectiveCacheSizeMiB: mb }, "set effective_cache_size");
    return (
      `set effective_cache_size to ${mb} MiB (shared_buffers ${formatMebibytes(sharedBuffers)} MiB + ` +
      `page cache estimate ${formatMebibytes(cache)} MiB; vanilla Postgres has no file cache to resize)`
    );
  }
}
