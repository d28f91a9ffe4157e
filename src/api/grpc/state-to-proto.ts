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

/**
 * Whether two JSON-shaped values are equal, walked as a whole: no field list to keep in step
 * with StatusView (a key present on one side only counts as a difference, costing a rebuild).
 * It runs on every Status call, so it allocates nothing (no key arrays, no callbacks): what a
 * call allocates is what the young generation fills with, and each minor GC it triggers copies
 * every call in flight (V8 keeps that generation small on a small compute).
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  // JSON-shaped: plain objects, whose enumerable keys are all their own.
  let keys = 0;
  for (const k in ra) {
    if (!(k in rb) || !sameJson(ra[k], rb[k])) return false;
    keys++;
  }
  for (const _ in rb) keys--;
  return keys === 0;
}

/**
 * computeStateToProto that returns its previous ComputeState, the same object, while the view
 * and timings it is given are equal (Status polling between two changes). The states it returns
 * must not be modified.
 */
export function lastStateWhileUnchanged(): (
  view: StatusView,
  timings: Record<string, number>,
) => ComputeState {
  let last: { view: StatusView; timings: Record<string, number>; state: ComputeState } | undefined;
  return (view, timings) => {
    if (!last || !sameJson(last.view, view) || !sameJson(last.timings, timings))
      last = { view, timings, state: computeStateToProto(view, timings) };
    return last.state;
  };
}
