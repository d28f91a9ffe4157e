// Puts the progress of a long task into the log: one line when it starts, one every second
// while it runs (also when nothing moved: a stalled base backup shows as a flat rate), and one
// when it ends, with the totals, the duration and the mean rate.
import type { Logger } from "pino";
import type { Progress } from "./progress.js";
import type { ComputeStateMachine } from "./state-machine.js";

export const PROGRESS_LOG_MS = 1000;

function fields(p: Progress, now: number): Record<string, unknown> {
  const elapsedS = Math.max((now - p.startedAt.getTime()) / 1000, 0.001);
  return {
    phase: p.phase,
    bytes_done: p.bytesDone,
    bytes_total: p.bytesTotal,
    percent: p.bytesTotal ? Math.min(100, Math.round((p.bytesDone / p.bytesTotal) * 1000) / 10) : null,
    files_done: p.filesDone,
    files_total: p.filesTotal,
    elapsed_s: Math.round(elapsedS * 10) / 10,
    bytes_per_s: Math.round(p.bytesDone / elapsedS),
  };
}

/** Logs every task's progress from the state machine; returns the function that stops it. */
export function logProgress(state: ComputeStateMachine, log: Logger, everyMs = PROGRESS_LOG_MS): () => void {
  let timer: NodeJS.Timeout | null = null;
  let shown: Progress | null = null;
  const stopTimer = () => {
    if (timer) clearInterval(timer);
    timer = null;
  };
  const unsubscribe = state.subscribe(
    (s) => {
      const p = s.progress;
      if (p && shown && p.startedAt === shown.startedAt && p.phase === shown.phase) {
        shown = p;
        return;
      }
      // A task ended (or another replaced it).
      if (shown) {
        log.info({ progress: fields(shown, Date.now()) }, `${shown.phase} done`);
        stopTimer();
      }
      shown = p;
      if (!p) return;
      log.info({ progress: fields(p, Date.now()) }, `${p.phase} started`);
      timer = setInterval(() => {
        if (shown) log.info({ progress: fields(shown, Date.now()) }, `${shown.phase} progress`);
      }, everyMs);
      timer.unref();
    },
    { progress: true },
  );
  return () => {
    unsubscribe();
    stopTimer();
  };
}
