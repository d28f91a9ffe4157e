// Neon's LFC resize, as Neon's vm-monitor does it: cap at neon.max_file_cache_size, then
// `ALTER SYSTEM SET neon.file_cache_size_limit = <MB>` (a bare integer of MB; Neon found bind
// parameters do not work here) and `pg_reload_conf()`, whose hook shrinks or grows the cache.
import type { Logger } from "pino";
import type { ManagedCache } from "./managed-cache.js";
import type { MonitorPgSession } from "./monitor-pg-session.js";
import { calculateCacheSize, formatMebibytes, MiB } from "./scaling-config.js";

export class NeonFileCache implements ManagedCache {
  readonly setting = "neon.file_cache_size_limit";

  constructor(
    private readonly session: MonitorPgSession,
    private readonly log: Logger,
  ) {}

  async resize(totalBytes: number): Promise<string> {
    const target = calculateCacheSize(totalBytes);
    const [row] = await this.session.read<{ max: string }>(
      "SELECT pg_size_bytes(current_setting('neon.max_file_cache_size')) AS max",
    );
    if (!row) throw new Error("max file cache size query returned no rows");
    const maxBytes = Number(row.max);
    const numMb = Math.floor(Math.min(target, maxBytes) / MiB);
    await this.session.execute(`ALTER SYSTEM SET neon.file_cache_size_limit = ${numMb}`);
    await this.session.execute("SELECT pg_reload_conf()");
    const actual = numMb * MiB;
    if (actual !== target) {
      this.log.warn(
        { targetMiB: formatMebibytes(target), actualMiB: formatMebibytes(actual) },
        "file cache was set to a different size than wanted (capped by neon.max_file_cache_size)",
      );
    }
    return `set file cache size to ${formatMebibytes(actual)} MiB`;
  }
}
