// The data directory a base backup is written into: emptied between attempts (a half-written
// cluster must never be started), measured afterwards, and given the files Postgres reads at
// start (signal files), owned by the OS user Postgres runs as.
import { chown, lstat, open, readdir, rm } from "node:fs/promises";
import path from "node:path";
import type { OsUser } from "../../postgres/os-user.js";

/** Removes everything inside `dir` but keeps `dir` itself (its mode and owner were set up for us). */
export async function emptyDir(dir: string): Promise<void> {
  const entries = await readdir(dir);
  await Promise.all(entries.map((e) => rm(path.join(dir, e), { recursive: true, force: true })));
}

/** Total size in bytes of the regular files under `dir` (symlinks are not followed). */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await dirBytes(p);
    else if (e.isFile()) total += (await lstat(p)).size;
  }
  return total;
}

/** Writes `content` to `file` (mode 0600), owned by `osUser` when given. */
export async function writeOwnedFile(file: string, content: string, osUser: OsUser | null): Promise<void> {
  const fh = await open(file, "w", 0o600);
  try {
    await fh.writeFile(content);
  } finally {
    await fh.close();
  }
  if (osUser) await chown(file, osUser.uid, osUser.gid);
}

/** Creates `standby.signal` in `pgdata`: Postgres then starts as a standby (replica or static). */
export async function writeStandbySignal(pgdata: string, osUser: OsUser | null): Promise<void> {
  await writeOwnedFile(path.join(pgdata, "standby.signal"), "", osUser);
}
