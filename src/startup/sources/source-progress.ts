// Progress of a long data-source phase (restoring files, replaying WAL): the source feeds the
// latest figures in, a line goes to the log every second while the phase runs and once at its
// end. This is the one producer of progress for the archive source, so that a progress report
// in /status and WatchStatus can be fed from here.
import type { Logger } from "pino";

export interface ProgressFigures {
  /** Bytes done so far (restored, or WAL replayed). */
  readonly bytesDone: number;
  /** Bytes expected in all, when known. */
  readonly bytesTotal: number | null;
  /** Files done so far, when the phase counts files. */
  readonly filesDone?: number;
}

export interface ProgressPhase {
  update(figures: ProgressFigures): void;
  /** Logs the final figures and stops the timer. */
  finish(): void;
}

export function startProgress(log: Logger, phase: string, intervalMs = 1000): ProgressPhase {
  const t0 = performance.now();
  let last: ProgressFigures = { bytesDone: 0, bytesTotal: null };
  const emit = (msg: string) => {
    const pct = last.bytesTotal ? Math.min(100, (100 * last.bytesDone) / last.bytesTotal) : null;
    log.info(
      {
        progress: phase,
        bytes_done: last.bytesDone,
        bytes_total: last.bytesTotal,
        files_done: last.filesDone,
        percent: pct === null ? null : Math.round(pct * 10) / 10,
        elapsed_ms: Math.round(performance.now() - t0),
      },
      msg,
    );
  };
  const timer = setInterval(() => emit(`${phase} progress`), intervalMs);
  timer.unref();
  let finished = false;
  return {
    update(figures) {
      last = figures;
    },
    finish() {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      emit(`${phase} done`);
    },
  };
}
