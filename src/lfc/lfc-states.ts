// The prewarm and offload states exactly as Neon serialises them (compute_api::responses
// LfcPrewarmState / LfcOffloadState, tagged by `status`): `GET /lfc/prewarm`, `GET /lfc/offload`.
// One addition: `prewarming` carries the progress so far (`total`, `prewarmed` pages).

export type LfcPrewarmState =
  | { status: "not_prewarmed" }
  | { status: "prewarming"; total: number; prewarmed: number }
  | {
      status: "completed";
      total: number;
      prewarmed: number;
      skipped: number;
      state_download_time_ms: number;
      uncompress_time_ms: number;
      prewarm_time_ms: number;
    }
  | { status: "failed"; error: string }
  | { status: "skipped" }
  | { status: "cancelled" };

export type LfcOffloadState =
  | { status: "not_offloaded" }
  | { status: "offloading" }
  | {
      status: "completed";
      state_query_time_ms: number;
      compress_time_ms: number;
      state_upload_time_ms: number;
    }
  | { status: "failed"; error: string }
  | { status: "skipped" };

/** Pages loaded so far; reported while prewarming (state, logs, WatchLfc). */
export interface PrewarmProgress {
  total: number;
  prewarmed: number;
}
