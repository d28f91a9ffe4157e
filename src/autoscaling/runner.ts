// The vm-monitor's decisions for one agent connection (Neon's `Runner`): answers the agent's
// messages, resizes the managed cache on up/downscale, keeps the memory threshold (85 % of usable
// memory) and asks for an immediate upscale at most once a second when the rolling mean of
// non-reclaimable memory reaches it. Transport-free: replies are returned, requests go to `send`.
import type { Logger } from "pino";
import type { MemorySnapshot } from "./cgroup-memory-watcher.js";
import type { ManagedCache } from "./managed-cache.js";
import type { Allocation, InboundMessage, OutboundMessage } from "./messages.js";
import {
  CGROUP_DOWNSCALE_THRESHOLD_BUFFER_BYTES,
  cgroupThreshold,
  formatMebibytes,
  STALE_MEMORY_STATS_MS,
  UPSCALE_REQUEST_MIN_INTERVAL_MS,
  usableMemory,
} from "./scaling-config.js";

export interface RunnerOptions {
  log: Logger;
  /** Sends a monitor-initiated message (UpscaleRequest). */
  send(msg: OutboundMessage): void;
  /** The resized cache; null with `cacheReason` saying why there is none. */
  cache: ManagedCache | null;
  cacheReason?: string;
  /** Memory samples (the cgroup watcher); null with `memoryReason` saying why none. */
  memory: { readonly latest: MemorySnapshot } | null;
  memoryReason?: string;
  /** Memory at connection time (MemTotal, like Neon's sysinfo total). */
  totalMemoryBytes: number;
}

export class MonitorRunner {
  /** Odd: the agent's ids are even, so ids minted here never collide with them. */
  private counter = 1;
  private lastUpscaleRequestAt: number | null = null;
  private threshold: number;

  constructor(private readonly opts: RunnerOptions) {
    this.threshold = cgroupThreshold(opts.totalMemoryBytes);
  }

  private get cache(): ManagedCache | null {
    return this.opts.cache;
  }

  private get cacheReason(): string {
    return this.opts.cacheReason ?? "no cache to resize";
  }

  private get memoryReason(): string {
    return this.opts.memoryReason ?? "no cgroup memory stats";
  }

  /** Current upscale threshold in bytes (for logs and tests). */
  get memoryThreshold(): number {
    return this.threshold;
  }

  /** Connection set-up: size the cache for the whole machine, as Neon does on every connect. */
  async initialise(): Promise<void> {
    const { log } = this.opts;
    if (this.cache) {
      const status = await this.cache.resize(this.opts.totalMemoryBytes);
      log.info({ setting: this.cache.setting, status }, "set initial cache size");
    } else {
      log.info({ reason: this.cacheReason }, "not resizing any cache");
    }
    if (this.opts.memory) {
      log.info({ thresholdMiB: formatMebibytes(this.threshold) }, "set initial memory threshold");
    }
  }

  /** Handles one agent message; returns the reply, if any. Never throws. */
  async handle(msg: InboundMessage): Promise<OutboundMessage | null> {
    const { log } = this.opts;
    switch (msg.type) {
      case "HealthCheck":
        return { type: "HealthCheck", id: msg.id };
      case "UpscaleNotification":
        try {
          await this.handleUpscale(msg.granted);
          return { type: "UpscaleConfirmation", id: msg.id };
        } catch (err) {
          log.warn({ err: (err as Error).message, id: msg.id }, "error handling upscale");
          return {
            type: "InternalError",
            id: msg.id,
            error: `failed to handle upscale: ${(err as Error).message}`,
          };
        }
      case "DownscaleRequest":
        try {
          const { ok, status } = await this.tryDownscale(msg.target);
          return { type: "DownscaleResult", id: msg.id, ok, status };
        } catch (err) {
          log.warn({ err: (err as Error).message, id: msg.id }, "error handling downscale");
          return {
            type: "InternalError",
            id: msg.id,
            error: `failed to downscale: ${(err as Error).message}`,
          };
        }
      case "InvalidMessage":
        log.warn({ error: msg.error, id: msg.id }, "received notification of an invalid message we sent");
        return null;
      case "InternalError":
        log.warn({ error: msg.error, id: msg.id }, "agent experienced an internal error");
        return null;
    }
  }

  private notManagingStatus(): string {
    const cgroup = this.opts.memory ? "watched" : this.memoryReason;
    const cache = this.cache ? this.cache.setting : this.cacheReason;
    return `monitor is not managing cgroup or file cache (cgroup: ${cgroup}; file cache: ${cache})`;
  }

  private async handleUpscale(granted: Allocation): Promise<void> {
    const { log } = this.opts;
    if (!this.cache && !this.opts.memory) {
      log.info({ reason: this.notManagingStatus() }, "no action needed for upscale");
      return;
    }
    const usable = usableMemory(granted.mem);
    if (this.cache) {
      const status = await this.cache.resize(usable);
      log.info({ status, totalMiB: formatMebibytes(granted.mem) }, "upscale: updated cache size");
    } else {
      log.info({ reason: this.cacheReason }, "upscale: no cache to resize");
    }
    if (this.opts.memory) {
      const next = cgroupThreshold(usable);
      log.info(
        `set cgroup memory threshold from ${formatMebibytes(this.threshold)} MiB to ${formatMebibytes(next)} MiB of new total ${formatMebibytes(usable)} MiB`,
      );
      this.threshold = next;
    }
  }

  private async tryDownscale(target: Allocation): Promise<{ ok: boolean; status: string }> {
    const { log } = this.opts;
    if (!this.cache && !this.opts.memory) {
      const status = this.notManagingStatus();
      log.info({ status }, "no action needed for downscale");
      return { ok: true, status };
    }
    const usable = usableMemory(target.mem);
    const newThreshold = cgroupThreshold(usable);
    const memory = this.opts.memory;
    if (memory) {
      const { at, history } = memory.latest;
      // Order matters (as in Neon): deny while samples are still arriving at start, but fail
      // when they have stopped coming for a while.
      if (performance.now() - at > STALE_MEMORY_STATS_MS) {
        throw new Error(
          "haven't gotten cgroup memory stats recently enough to determine downscaling information",
        );
      }
      if (history.samplesCount <= 1) {
        const status = "haven't received enough cgroup memory stats yet";
        log.info({ status }, "discontinuing downscale");
        return { ok: false, status };
      }
      const current = history.avgNonReclaimable;
      if (newThreshold < current + CGROUP_DOWNSCALE_THRESHOLD_BUFFER_BYTES) {
        const status =
          `calculated memory threshold too low: ${formatMebibytes(newThreshold)} MiB (new threshold) < ` +
          `${formatMebibytes(current)} (current usage) + ` +
          `${formatMebibytes(CGROUP_DOWNSCALE_THRESHOLD_BUFFER_BYTES)} (downscale buffer)`;
        log.info({ status }, "discontinuing downscale");
        return { ok: false, status };
      }
    }
    // Approved: shrink the cache first, then lower the threshold.
    const status: string[] = [];
    if (this.cache) {
      status.push(await this.cache.resize(usable));
    } else {
      status.push(`file cache not resized: ${this.cacheReason}`);
    }
    if (memory) {
      status.push(
        `set cgroup memory threshold from ${formatMebibytes(this.threshold)} MiB to ${formatMebibytes(newThreshold)} MiB, of new total ${formatMebibytes(usable)} MiB`,
      );
      this.threshold = newThreshold;
    } else {
      status.push(`memory threshold not tracked: ${this.memoryReason}`);
    }
    const joined = status.join("; ");
    log.info({ status: joined }, "downscale approved");
    return { ok: true, status: joined };
  }

  /** Called on every memory sample: requests an upscale when over the threshold (max 1/s). */
  onMemorySample(snapshot: MemorySnapshot): void {
    const avg = snapshot.history.avgNonReclaimable;
    if (avg < this.threshold) return;
    const now = performance.now();
    if (
      this.lastUpscaleRequestAt !== null &&
      now - this.lastUpscaleRequestAt < UPSCALE_REQUEST_MIN_INTERVAL_MS
    )
      return;
    this.lastUpscaleRequestAt = now;
    this.counter += 2;
    this.opts.log.info(
      {
        avgNonReclaimableMiB: formatMebibytes(avg),
        thresholdMiB: formatMebibytes(this.threshold),
        id: this.counter,
      },
      "cgroup memory stats are high enough to upscale, requesting upscale",
    );
    this.opts.send({ type: "UpscaleRequest", id: this.counter });
  }
}
