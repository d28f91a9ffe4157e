// compute_audit_log_dir_size: bytes of the files whose names end in "log" in <pgdata>/log, where
// pgauditlogtofile writes the compliance audit logs (audit_log_level Extended/Full); measured at
// scrape time. No directory (no audit files yet) is 0.
import { readdirSync, statSync } from "node:fs";
import path from "node:path";

export function auditLogDirSize(dir: string): number {
  let total = 0;
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!e.isFile() || !e.name.endsWith("log")) continue;
    try {
      total += statSync(path.join(dir, e.name)).size;
    } catch {
      // rotated away meanwhile
    }
  }
  return total;
}
