// Every start is a fresh start: the old data directory goes, a new empty one (mode 0700, owned by
// the Postgres OS user) takes its place.
//
// The old directory is renamed aside (one syscall) and deleted by a background `rm -rf` spawned
// a second later, so a start does not wait for tens of MB of unlinks (nor for the spawn), and the
// deletion runs on another core rather than as thousands of callbacks on the event loop.
// Leftovers of an agent that stopped before its `rm` finished (`.<name>.old-*` next to the data
// directory) are removed by the next start. Where renaming is impossible (the data directory is a
// mount point, or its parent is not writable) it is emptied in place: its entries go, the
// directory stays.
//
// Nothing is wiped unless pgdata-guard.ts says the agent owns the directory; a directory the
// agent creates is recorded as its own beside it.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, mkdirSync, readdirSync, renameSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { checkPgdata, markOwned } from "../pgdata-guard.js";
import type { StartupStep } from "../startup-context.js";

function oldPrefix(pgdata: string): string {
  return `.${path.basename(pgdata)}.old-`;
}

/** Renames `pgdata` aside; returns the new name, or null when there was nothing to move. */
function moveAside(pgdata: string): string | null {
  const aside = path.join(path.dirname(pgdata), `${oldPrefix(pgdata)}${randomBytes(4).toString("hex")}`);
  try {
    renameSync(pgdata, aside);
    return aside;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** Leftover renamed data directories next to `pgdata` (from agents that stopped mid-delete). */
function leftovers(pgdata: string): string[] {
  const prefix = oldPrefix(pgdata);
  try {
    return readdirSync(path.dirname(pgdata))
      .filter((n) => n.startsWith(prefix))
      .map((n) => path.join(path.dirname(pgdata), n));
  } catch {
    return [];
  }
}

/**
 * How long the `rm` waits: spawning it forks the agent, a few ms of the event loop that the start
 * needs (it would be on every start's path to `running`); a second later the start is done.
 */
const REMOVE_AFTER_MS = 1000;

function removeInBackground(dirs: string[]): void {
  if (dirs.length === 0) return;
  // Unref'd: an agent that exits first leaves them to the next start's sweep.
  setTimeout(() => {
    const child = spawn("rm", ["-rf", "--", ...dirs], { stdio: "ignore", detached: true });
    child.on("error", () => {}); // no rm(1): the next start's sweep tries again
    child.unref();
  }, REMOVE_AFTER_MS).unref();
}

/** Removes every entry of `dir` (symlinks themselves, never their targets) and keeps `dir`. */
async function emptyInPlace(dir: string): Promise<void> {
  await Promise.all(readdirSync(dir).map((n) => rm(path.join(dir, n), { recursive: true, force: true })));
}

export async function recreateDataDir(
  pgdata: string,
  owner: { uid: number; gid: number } | null,
): Promise<void> {
  let inPlace = false;
  try {
    moveAside(pgdata);
  } catch {
    // A mount point (EBUSY) or a parent we may not write: keep the directory, empty it.
    await emptyInPlace(pgdata);
    inPlace = true;
  }
  if (inPlace) {
    chmodSync(pgdata, 0o700);
  } else {
    // Parents get ordinary permissions (the Postgres user must be able to traverse them).
    mkdirSync(path.dirname(pgdata), { recursive: true, mode: 0o755 });
    mkdirSync(pgdata, { mode: 0o700 });
  }
  if (owner) chownSync(pgdata, owner.uid, owner.gid);
  markOwned(pgdata);
  // What was just moved aside, and anything an earlier agent left.
  removeInBackground(leftovers(pgdata));
}

export const preparePgdataStep: StartupStep = {
  name: "prepare_pgdata",
  metric: "prepare_pgdata_ms",
  async run(ctx) {
    // Checked at launch already; again here, as the directory may have changed since (a spec
    // can arrive through the API long after launch).
    checkPgdata(ctx.options.pgdata, ctx.options);
    await recreateDataDir(ctx.options.pgdata, ctx.osUser);
  },
};
