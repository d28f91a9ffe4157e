// The `/status` document and the Status RPC's source, built from the state snapshot.
import type { StatusView } from "../api/compute-api.js";
import { progressView } from "../state/progress.js";
import type { ComputeRuntime } from "./compute-runtime.js";

function settingValue(rt: ComputeRuntime, name: string): string | null {
  return rt.spec?.json.cluster.settings?.find((s) => s.name === name)?.value ?? null;
}

/** RFC 3339 with a `+00:00` offset, as Neon writes `last_active` (chrono's to_rfc3339). */
export function rfc3339Offset(date: Date): string {
  return date.toISOString().replace(/Z$/, "+00:00");
}

export function statusView(rt: ComputeRuntime): StatusView {
  const s = rt.state.snapshot;
  const view: StatusView = {
    start_time: s.startTime.toISOString(),
    status: s.status,
    // start_time keeps the `Z` form (Neon serializes it with serde's default), last_active not.
    last_active: rt.activity.lastActive ? rfc3339Offset(rt.activity.lastActive) : null,
    error: s.error,
    tenant: rt.spec?.json.tenant_id ?? settingValue(rt, "neon.tenant_id"),
    timeline: rt.spec?.json.timeline_id ?? settingValue(rt, "neon.timeline_id"),
    // Fields of the data source (archive: whether WAL reaches the repository).
    ...(rt.source?.status?.() ?? {}),
    ignored: [...rt.ignored],
  };
  // Only while a long task runs, so the document stays Neon's shape otherwise.
  if (s.progress) view.progress = progressView(s.progress);
  return view;
}

/** `/ready`: Postgres serves queries (running, or a live reconfiguration of a running compute). */
export function isReady(rt: ComputeRuntime): boolean {
  const s = rt.state.snapshot;
  return s.status === "running" || s.reconfiguring;
}
