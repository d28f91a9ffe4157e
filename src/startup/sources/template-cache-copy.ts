// Copies a cluster tree entry by entry as a manifest lists it, and proves while copying that the
// source is the tree the manifest describes: after each file is copied its source is lstat'ed
// and compared with its entry (a file changed during the copy changes its ctime, so the check
// comes after the copy); directories are compared last, which also catches entries added to or
// removed from them. One pass, no second read of the data.
//
// How: synchronous copyFile/chown/lstat calls in short slices (SLICE_MS), yielding to the event
// loop between slices so the API stays responsive. The same work through the async API costs
// three libuv pool round trips per file, and spawning `cp -a` or using `fs.cp` is slower still;
// bench/cold-start.ts measures these methods side by side. copyFile uses
// copy_file_range/sendfile, and FICLONE makes it a reflink where the filesystem can.
//
// copyVerifiedByChild is the other way, for when the event loop has better things to do than
// copy (a launch copies while the agent's own modules load): one `cp -a` on the other core, then
// the same identity check of every source entry. It costs the event loop a spawn and one lstat
// per entry, a tenth of the synchronous copy, and takes longer from start to end.

import { chownSync, constants, copyFileSync, mkdirSync } from "node:fs";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { runToExit } from "./run-to-exit.js";
import {
  checkEntry,
  lstatExactSync,
  type ManifestEntry,
  TemplateDamagedError,
} from "./template-cache-manifest.js";

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** Longest stretch of synchronous copying before the event loop gets a turn. */
const SLICE_MS = 8;

// Entry paths are relative and normalised (parseManifest rejects absolute paths and ".."), so
// plain concatenation does what path.join would, without its per-call normalisation.
function under(root: string, rel: string): string {
  return rel === "" ? root : `${root}/${rel}`;
}

function verify(srcRoot: string, entry: ManifestEntry): void {
  let st: ReturnType<typeof lstatExactSync>;
  try {
    st = lstatExactSync(under(srcRoot, entry.path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      throw new TemplateDamagedError(`${entry.path}: missing`, { cause: err });
    throw err;
  }
  checkEntry(entry, st);
}

function copyEntry(srcRoot: string, entry: ManifestEntry, destRoot: string, owner: Owner | null): void {
  const dest = under(destRoot, entry.path);
  if (entry.type === "dir") {
    mkdirSync(dest, { mode: entry.mode });
  } else {
    try {
      // The copy gets the source's mode.
      copyFileSync(under(srcRoot, entry.path), dest, constants.COPYFILE_FICLONE);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT")
        throw new TemplateDamagedError(`${entry.path}: missing`, { cause: err });
      throw err;
    }
  }
  if (owner) chownSync(dest, owner.uid, owner.gid);
  if (entry.type === "file") verify(srcRoot, entry);
}

/**
 * Copies `entries` (directories before their contents) from `srcRoot` into the existing, empty
 * directory `destRoot`, owned by `owner` (null: by us), verifying each source entry. Throws
 * TemplateDamagedError when the source does not match.
 */
export async function copyVerified(
  srcRoot: string,
  entries: readonly ManifestEntry[],
  destRoot: string,
  owner: Owner | null,
): Promise<void> {
  let slice = performance.now();
  for (const entry of entries) {
    if (entry.path !== "") copyEntry(srcRoot, entry, destRoot, owner);
    if (performance.now() - slice > SLICE_MS) {
      await yieldToEventLoop();
      slice = performance.now();
    }
  }
  for (const entry of entries) if (entry.type === "dir") verify(srcRoot, entry);
}

/**
 * Copies the tree of `srcRoot` into the existing `destRoot` with one `cp -a` (ownership and
 * modes as in the template, which is owned by the Postgres user), then checks every source
 * entry against `entries` as copyVerified does: an entry changed, added or removed before the
 * check changed its ctime (or its directory's), so a copy that passes read the published tree.
 * `signal` kills the copy. Throws TemplateDamagedError when the source does not match.
 */
export async function copyVerifiedByChild(
  srcRoot: string,
  entries: readonly ManifestEntry[],
  destRoot: string,
  signal?: AbortSignal,
): Promise<void> {
  await runToExit(
    "cp",
    ["-a", "--reflink=auto", "--", `${srcRoot}/.`, destRoot],
    {},
    { what: "cp -a of the template", signal, abortWith: "SIGKILL" },
  );
  for (const entry of entries) verify(srcRoot, entry);
}
