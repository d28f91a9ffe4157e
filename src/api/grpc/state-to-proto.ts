// The core's status view and timings -> compute.v1.ComputeState.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type ComputeState,
  ComputeStateSchema,
  ComputeStatus,
  type Progress,
  ProgressSchema,
} from "../../../gen/compute/v1/status_pb.js";
import type { ProgressView } from "../../state/progress.js";
import type { ComputeStatus as CoreStatus } from "../../state/status.js";
import type { StatusView } from "../compute-api.js";

const STATUS: Record<CoreStatus, ComputeStatus> = {
  empty: ComputeStatus.EMPTY,
  configuration_pending: ComputeStatus.CONFIGURATION_PENDING,
  configuration: ComputeStatus.CONFIGURATION,
  init: ComputeStatus.INIT,
  running: ComputeStatus.RUNNING,
  failed: ComputeStatus.FAILED,
  termination_pending_fast: ComputeStatus.TERMINATION_PENDING_FAST,
  termination_pending_immediate: ComputeStatus.TERMINATION_PENDING_IMMEDIATE,
  terminated: ComputeStatus.TERMINATED,
};

export function statusToProto(status: CoreStatus): ComputeStatus {
  return STATUS[status];
}

const timestamp = (iso: string | null) => (iso === null ? undefined : timestampFromDate(new Date(iso)));

const u64 = (n: number | null) => (n === null ? undefined : BigInt(Math.max(0, Math.round(n))));

function progressToProto(p: ProgressView): Progress {
  return create(ProgressSchema, {
    phase: p.phase,
    bytesDone: u64(p.bytes_done) ?? 0n,
    bytesTotal: u64(p.bytes_total),
    filesDone: u64(p.files_done),
    filesTotal: u64(p.files_total),
    startedAt: timestamp(p.started_at),
    updatedAt: timestamp(p.updated_at),
  });
}

export function computeStateToProto(view: StatusView, timings: Record<string, number>): ComputeState {
  return create(ComputeStateSchema, {
    status: statusToProto(view.status),
    startTime: timestamp(view.start_time),
    lastActive: timestamp(view.last_active),
    error: view.error ?? undefined,
    tenant: view.tenant ?? undefined,
    timeline: view.timeline ?? undefined,
    timings,
    progress: view.progress ? progressToProto(view.progress) : undefined,
    ignored: view.ignored.map((i) => ({ field: i.field, reason: i.reason })),
  });
}
