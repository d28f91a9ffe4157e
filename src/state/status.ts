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

const TERMINATE = ["termination_pending_fast", "termination_pending_immediate"] as const;

// Termination is allowed from every state that is not already terminating: a compute that failed
// or is still starting must stay manageable.
const ALLOWED: Record<ComputeStatus, readonly ComputeStatus[]> = {
  empty: ["init", "configuration_pending", ...TERMINATE],
  init: ["running", "failed", ...TERMINATE],
  // -> init: a spec for an empty compute starts it (as Neon); -> configuration: a live reconfiguration.
  configuration_pending: ["init", "configuration", "failed", ...TERMINATE],
  // -> running also when a live reconfiguration failed and was rolled back.
  configuration: ["running", "failed", ...TERMINATE],
  running: ["configuration_pending", ...TERMINATE],
  failed: [...TERMINATE],
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
