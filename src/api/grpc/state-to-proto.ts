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

// A field read here must be compared in sameState below too, or Status polling keeps an old state.
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

function sameProgress(a: ProgressView | undefined, b: ProgressView | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return (
    a.phase === b.phase &&
    a.bytes_done === b.bytes_done &&
    a.bytes_total === b.bytes_total &&
    a.files_done === b.files_done &&
    a.files_total === b.files_total &&
    a.started_at === b.started_at &&
    a.updated_at === b.updated_at
  );
}

function sameTimings(a: Record<string, number>, b: Record<string, number>): boolean {
  let count = 0;
  for (const key in a) {
    if (a[key] !== b[key]) return false;
    count++;
  }
  return count === Object.keys(b).length;
}

/** Whether two views with their timings give the same ComputeState (the fields it is made of). */
function sameState(
  a: { view: StatusView; timings: Record<string, number> },
  b: { view: StatusView; timings: Record<string, number> },
): boolean {
  const [x, y] = [a.view, b.view];
  return (
    x.status === y.status &&
    x.start_time === y.start_time &&
    x.last_active === y.last_active &&
    x.error === y.error &&
    x.tenant === y.tenant &&
    x.timeline === y.timeline &&
    sameProgress(x.progress, y.progress) &&
    x.ignored.length === y.ignored.length &&
    x.ignored.every((f, i) => f.field === y.ignored[i].field && f.reason === y.ignored[i].reason) &&
    sameTimings(a.timings, b.timings)
  );
}

/**
 * computeStateToProto that returns its previous ComputeState, the same object, while the view
 * and timings it is given make the same state (Status polling between two changes). The states
 * it returns must not be modified.
 */
export function lastStateWhileUnchanged(): (
  view: StatusView,
  timings: Record<string, number>,
) => ComputeState {
  let last: { view: StatusView; timings: Record<string, number>; state: ComputeState } | undefined;
  return (view, timings) => {
    const next = { view, timings };
    if (last && sameState(last, next)) return last.state;
    last = { ...next, state: computeStateToProto(view, timings) };
    return last.state;
  };
}
