// Memory-pressure input: polls the cgroup's `memory.stat` every 100 ms and keeps a rolling mean of
// the last 5 samples of non-reclaimable memory (`active_anon + inactive_anon`: process memory and
// touched shared memory, not page cache). Mirrors Neon's CgroupWatcher, including its sparse log.
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import { formatMebibytes, MiB } from "./scaling-config.js";

export const MEMORY_POLL_INTERVAL_MS = 100;
export const MEMORY_HISTORY_LEN = 5;
const LOG_EVERY_SAMPLES = 20;
const LOG_AT_LEAST_EVERY_MS = 15_000;

export interface MemoryHistory {
  avgNonReclaimable: number;
  samplesCount: number;
  samplesSpanMs: number;
}

export interface MemorySnapshot {
  /** performance.now() of the latest sample (of the watcher's start before any sample). */
  at: number;
  history: MemoryHistory;
}

/** `active_anon + inactive_anon` from a memory.stat text; throws when either is missing. */
export function parseNonReclaimable(text: string): number {
  let active: number | undefined;
  let inactive: number | undefined;
  for (const line of text.split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key === "active_anon") active = Number(value);
    else if (key === "inactive_anon") inactive = Number(value);
  }
  if (
    active === undefined ||
    inactive === undefined ||
    !Number.isFinite(active) ||
    !Number.isFinite(inactive)
  ) {
    throw new Error("memory.stat has no numeric active_anon and inactive_anon lines");
  }
  return active + inactive;
}

/** Neon's "close or similar": within 1/8 of the smaller value and within 128 MiB. */
function similar(a: number, b: number): boolean {
  const diff = Math.abs(a - b);
  return diff < Math.floor(Math.min(a, b) / 8) && diff < 128 * MiB;
}

export class CgroupMemoryWatcher {
  private timer: NodeJS.Timeout | null = null;
  private reading = false;
  private samples: number[] = [];
  private logBuffer: number[] = [];
  private lastLogged = 0;
  private quietUntil = 0;
  private lastReadError = "";
  private snapshot: MemorySnapshot;

  constructor(
    private readonly statPath: string,
    private readonly log: Logger,
    private readonly onSample: (snapshot: MemorySnapshot) => void,
    private readonly intervalMs = MEMORY_POLL_INTERVAL_MS,
  ) {
    // Like Neon, the clock starts at creation so "no samples for 5 s" also covers "never any".
    this.snapshot = {
      at: performance.now(),
      history: { avgNonReclaimable: 0, samplesCount: 0, samplesSpanMs: 0 },
    };
  }

  get latest(): MemorySnapshot {
    return this.snapshot;
  }

  start(): void {
    if (this.timer) return;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async tick(): Promise<void> {
    // A slow read skips ticks instead of piling up (tokio's MissedTickBehavior::Skip).
    if (this.reading) return;
    this.reading = true;
    let value: number;
    try {
      value = parseNonReclaimable(await readFile(this.statPath, "utf8"));
      this.lastReadError = "";
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.lastReadError) {
        this.log.warn(
          { path: this.statPath, err: message },
          "cannot read cgroup memory stats; skipping sample",
        );
        this.lastReadError = message;
      }
      return;
    } finally {
      this.reading = false;
    }
    if (!this.timer) return; // stopped while reading
    this.samples.push(value);
    if (this.samples.length > MEMORY_HISTORY_LEN) this.samples.shift();
    const count = this.samples.length;
    const history: MemoryHistory = {
      avgNonReclaimable: Math.floor(this.samples.reduce((a, b) => a + b, 0) / count),
      samplesCount: count,
      samplesSpanMs: this.intervalMs * (count - 1),
    };
    const now = performance.now();
    this.snapshot = { at: now, history };
    this.maybeLog(value, history, now);
    this.onSample(this.snapshot);
  }

  private maybeLog(value: number, history: MemoryHistory, now: number): void {
    this.logBuffer.push(value);
    if (this.logBuffer.length < LOG_EVERY_SAMPLES) return;
    const buffer = this.logBuffer;
    this.logBuffer = [];
    if (now <= this.quietUntil && buffer.every((v) => similar(this.lastLogged, v))) return;
    this.log.info(
      {
        nonReclaimableMiB: buffer.map((v) => formatMebibytes(v)),
        avgNonReclaimableMiB: formatMebibytes(history.avgNonReclaimable),
        samples: history.samplesCount,
      },
      "recent cgroup memory statistics history",
    );
    this.quietUntil = now + LOG_AT_LEAST_EVERY_MS;
    this.lastLogged = buffer[buffer.length - 1] ?? 0;
  }
}
