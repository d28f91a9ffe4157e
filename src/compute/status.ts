// The compute's status values (Neon's ComputeStatus) and the transitions allowed between them.

export const COMPUTE_STATUSES = [
  "empty",
  "configuration_pending",
  "configuration",
  "init",
  "running",
  "failed",
  "termination_pending_fast",
  "termination_pending_immediate",
  "terminated",
] as const;

export type ComputeStatus = (typeof COMPUTE_STATUSES)[number];

const ALLOWED: Record<ComputeStatus, readonly ComputeStatus[]> = {
  empty: ["init", "configuration_pending", "termination_pending_fast", "termination_pending_immediate"],
  init: ["running", "failed"],
  // -> init: a spec for an empty compute starts it (as Neon); -> configuration: a live reconfiguration.
  configuration_pending: ["init", "configuration", "failed"],
  configuration: ["running", "failed"],
  running: ["configuration_pending", "termination_pending_fast", "termination_pending_immediate"],
  failed: [],
  termination_pending_fast: ["terminated"],
  termination_pending_immediate: ["terminated"],
  terminated: [],
};

export function canTransition(from: ComputeStatus, to: ComputeStatus): boolean {
  return ALLOWED[from].includes(to);
}

/** Neon's display form (`configuration-pending`), used in `compute_ctl_up{status}` and 412 texts. */
export function displayStatus(status: ComputeStatus): string {
  return status.replaceAll("_", "-");
}
