// The core's LFC states (Neon's JSON shape) -> compute.v1.LfcPrewarmState / LfcOffloadState.
import { create } from "@bufbuild/protobuf";
import {
  type LfcOffloadState,
  LfcOffloadStateSchema,
  LfcOffloadStatus,
  type LfcPrewarmState,
  LfcPrewarmStateSchema,
  LfcPrewarmStatus,
} from "../../../gen/compute/v1/lfc_pb.js";
import type { LfcOffloadState as CoreOffload, LfcPrewarmState as CorePrewarm } from "../../lfc/lfc-states.js";

const PREWARM: Record<CorePrewarm["status"], LfcPrewarmStatus> = {
  not_prewarmed: LfcPrewarmStatus.NOT_PREWARMED,
  prewarming: LfcPrewarmStatus.PREWARMING,
  completed: LfcPrewarmStatus.COMPLETED,
  failed: LfcPrewarmStatus.FAILED,
  skipped: LfcPrewarmStatus.SKIPPED,
  cancelled: LfcPrewarmStatus.CANCELLED,
};

const OFFLOAD: Record<CoreOffload["status"], LfcOffloadStatus> = {
  not_offloaded: LfcOffloadStatus.NOT_OFFLOADED,
  offloading: LfcOffloadStatus.OFFLOADING,
  completed: LfcOffloadStatus.COMPLETED,
  failed: LfcOffloadStatus.FAILED,
  skipped: LfcOffloadStatus.SKIPPED,
};

const n64 = (n: number | undefined) => BigInt(Math.max(0, Math.trunc(n ?? 0)));

export function prewarmStateToProto(s: CorePrewarm): LfcPrewarmState {
  const out = create(LfcPrewarmStateSchema, { status: PREWARM[s.status] });
  if (s.status === "prewarming") {
    out.total = n64(s.total);
    out.prewarmed = n64(s.prewarmed);
  } else if (s.status === "completed") {
    out.total = n64(s.total);
    out.prewarmed = n64(s.prewarmed);
    out.skipped = n64(s.skipped);
    out.stateDownloadTimeMs = s.state_download_time_ms;
    out.uncompressTimeMs = s.uncompress_time_ms;
    out.prewarmTimeMs = s.prewarm_time_ms;
  } else if (s.status === "failed") {
    out.error = s.error;
  }
  return out;
}

export function offloadStateToProto(s: CoreOffload): LfcOffloadState {
  const out = create(LfcOffloadStateSchema, { status: OFFLOAD[s.status] });
  if (s.status === "completed") {
    out.stateQueryTimeMs = s.state_query_time_ms;
    out.compressTimeMs = s.compress_time_ms;
    out.stateUploadTimeMs = s.state_upload_time_ms;
  } else if (s.status === "failed") {
    out.error = s.error;
  }
  return out;
}
