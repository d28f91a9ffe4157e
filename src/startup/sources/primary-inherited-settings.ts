// A base backup copies the source's own recovery state: its postgresql.auto.conf may carry a
// primary_conninfo (the source itself is a standby, or was set up with `ALTER SYSTEM`) and signal
// files may come along. postgresql.auto.conf is read after postgresql.conf, so a stale setting
// there would override what we write; the copy must follow only what our spec says.
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/** Settings that make a cluster follow or recover from somewhere else. */
const RECOVERY_SETTINGS = new Set([
  "primary_conninfo",
  "primary_slot_name",
  "restore_command",
  "archive_cleanup_command",
  "recovery_end_command",
  "recovery_target",
  "recovery_target_lsn",
  "recovery_target_name",
  "recovery_target_time",
  "recovery_target_xid",
  "recovery_target_inclusive",
  "recovery_target_timeline",
  "recovery_target_action",
  "promote_trigger_file",
]);

function settingName(line: string): string | null {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=|\s)/.exec(line);
  return m ? m[1].toLowerCase() : null;
}

/** Removes recovery settings from `postgresql.auto.conf`; returns the names removed. */
export async function dropInheritedRecoverySettings(pgdata: string): Promise<string[]> {
  const file = path.join(pgdata, "postgresql.auto.conf");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const removed: string[] = [];
  const kept = text.split("\n").filter((line) => {
    const name = settingName(line);
    if (name && RECOVERY_SETTINGS.has(name)) {
      removed.push(name);
      return false;
    }
    return true;
  });
  // Rewriting in place keeps the file's owner (the Postgres OS user).
  if (removed.length) await writeFile(file, kept.join("\n"));
  return removed;
}

/** Removes `standby.signal` and `recovery.signal` if the copy brought them. */
export async function dropInheritedSignalFiles(pgdata: string): Promise<void> {
  await rm(path.join(pgdata, "standby.signal"), { force: true });
  await rm(path.join(pgdata, "recovery.signal"), { force: true });
}
