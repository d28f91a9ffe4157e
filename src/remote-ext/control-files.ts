// Writes the control files of the spec's allowed remote extensions into `<sharedir>/extension`
// at start, so `CREATE EXTENSION` (and pg_available_extensions) see them before any archive is
// downloaded. A file that exists is kept: the local installation wins (as Neon). Written to a
// temporary name and renamed, mode 0644, so Postgres never reads half a file.
import { chmodSync, existsSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { PgInstallDirs } from "./pg-install-dirs.js";
import { isAllowed, type RemoteExtSpec } from "./remote-ext-lookup.js";

export interface ControlFilesReport {
  written: string[];
  kept: string[];
}

export function writeControlFiles(
  remote: RemoteExtSpec,
  dirs: Pick<PgInstallDirs, "sharedir">,
): ControlFilesReport {
  const dir = path.join(dirs.sharedir, "extension");
  const report: ControlFilesReport = { written: [], kept: [] };
  for (const [ext, data] of Object.entries(remote.extension_data)) {
    if (!isAllowed(remote, ext)) continue;
    for (const [file, content] of Object.entries(data.control_data)) {
      // The spec allows plain `*.control` names only (spec/warm-fields.ts); checked again here.
      if (path.basename(file) !== file || !file.endsWith(".control"))
        throw new Error(`bad control file name ${file}`);
      const dest = path.join(dir, file);
      if (existsSync(dest)) {
        report.kept.push(file);
        continue;
      }
      const tmp = path.join(dir, `.${file}.${process.pid}.tmp`);
      writeFileSync(tmp, content, { mode: 0o644 });
      chmodSync(tmp, 0o644); // whatever the umask: Postgres, another user, reads it
      renameSync(tmp, dest);
      report.written.push(file);
    }
  }
  return report;
}
