// Neon flags that are accepted so a launcher written for Neon can start this agent unchanged,
// but whose effect belongs to Neon's VMs or to Databricks: each one given is logged once at start
// with what it does there and what happens here instead (docs/neon-compatibility.md, "Flags").
import type { AgentOptions } from "./options.js";

export interface FlagNote {
  flag: string;
  /** What the flag does on Neon. */
  neon: string;
  /** What this agent does instead. */
  here: string;
}

export function notApplicableFlags(o: AgentOptions): FlagNote[] {
  const notes: FlagNote[] = [];
  if (o.resizeSwapOnBind)
    notes.push({
      flag: "--resize-swap-on-bind",
      neon: "runs `sudo /neonvm/bin/resize-swap --once <swap_size_bytes>` on a NeonVM before Postgres starts",
      here: "swap is the host's business; spec.swap_size_bytes is reported as ignored in /status",
    });
  if (o.setDiskQuotaForFs !== null)
    notes.push({
      flag: "--set-disk-quota-for-fs",
      neon: "runs `sudo /neonvm/bin/set-disk-quota <disk_quota_bytes/1024> <mountpoint>` on a NeonVM before Postgres starts",
      here: "disk quotas are the host's business; spec.disk_quota_bytes is reported as ignored in /status",
    });
  if (o.lakebaseMode)
    notes.push({
      flag: "--lakebase-mode",
      neon: "Databricks (Hadron) behaviour: --http-port honoured, Databricks roles and settings, JSON log files, exit on an empty refresh",
      here: "the agent runs as without it (--http-port is honoured anyway)",
    });
  if (o.filecacheConnstr !== null && !o.autoscaling)
    notes.push({
      flag: "--filecache-connstr",
      neon: "the vm-monitor's connection for resizing the local file cache",
      here: "used by the vm-monitor, which runs only with AUTOSCALING set (it is not set)",
    });
  return notes;
}
