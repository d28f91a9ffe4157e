// Progress of one long task of the compute - a base backup, a restore, a cache prewarm - as
// bytes (and files) done out of a total when the producer knows it. Producers get a
// ProgressReporter and call it as often as they like (per chunk); the state machine keeps the
// latest figures in its snapshot and publishes them to /status, WatchStatus and the log at a
// bounded rate. A new producer plugs in by asking for a reporter: nothing else changes.

export interface Progress {
  /** What runs: `basebackup` (pg_basebackup), `pageserver_basebackup`, `restore`, `prewarm`, ... */
  readonly phase: string;
  readonly bytesDone: number;
  /** The expected total; null when the producer cannot know it (e.g. a compressed stream). */
  readonly bytesTotal: number | null;
  readonly filesDone: number | null;
  readonly filesTotal: number | null;
  readonly startedAt: Date;
  readonly updatedAt: Date;
}

export interface ProgressUpdate {
  bytesDone?: number;
  bytesTotal?: number | null;
  filesDone?: number | null;
  filesTotal?: number | null;
}

export interface ProgressReporter {
  /** Sets the figures given (absolute values). */
  update(update: ProgressUpdate): void;
  /** Counts `n` more bytes done (for producers that see a stream). */
  addBytes(n: number): void;
  /** Counts one more file done. */
  addFile(): void;
  /** The task is over (done or failed); the progress disappears from the status. */
  end(): void;
}

/** Starts reporting the progress of `phase`; what a data source or a background task is given. */
export type BeginProgress = (phase: string) => ProgressReporter;

/** A reporter that goes nowhere (for callers that do not observe progress). */
export const NO_PROGRESS: ProgressReporter = {
  update() {},
  addBytes() {},
  addFile() {},
  end() {},
};

/** The progress as the REST `/status` document and the log show it (snake_case, Neon style). */
export interface ProgressView {
  phase: string;
  bytes_done: number;
  bytes_total: number | null;
  files_done: number | null;
  files_total: number | null;
  started_at: string;
  updated_at: string;
}

export function progressView(p: Progress): ProgressView {
  return {
    phase: p.phase,
    bytes_done: p.bytesDone,
    bytes_total: p.bytesTotal,
    files_done: p.filesDone,
    files_total: p.filesTotal,
    started_at: p.startedAt.toISOString(),
    updated_at: p.updatedAt.toISOString(),
  };
}
