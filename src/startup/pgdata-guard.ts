// The agent deletes only what it owns. Every start wipes `-D`, so before anything is wiped (at
// launch, before any listener binds, and again on the start itself) `-D` must be:
// - absent, or an empty directory (a fresh volume's `lost+found` counts as empty);
// - a Postgres data directory (a regular `PG_VERSION` file: a previous compute's);
// - or a directory this agent created: its identity (device, inode) is recorded beside it in
//   `.<name>.compute_ctl-owned` when it is made, which covers a start that stopped before the
//   data source wrote PG_VERSION.
// Whatever the contents, it may not be a filesystem root, a system directory, a home directory,
// the template cache or the gRPC socket's directory, nor a parent of any of these. A symbolic
// link at `-D` is refused (the wipe would replace the link, not empty its target): pass the real
// path. Only synchronous node:fs calls: this runs on the start path, before the APIs load.
import { lstatSync, opendirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { OperationError } from "../errors/operation-error.js";

/** At launch: exit 2. For a spec through the API: failed_precondition (412). */
export class PgdataRefusedError extends OperationError {
  override readonly name = "PgdataRefusedError";
  constructor(
    readonly pgdata: string,
    readonly reason: string,
  ) {
    super(
      "failed_precondition",
      `refusing to use ${pgdata} as the data directory (it is wiped on every start): ${reason}`,
    );
  }
}

/** Directories that are never a data directory, whatever they hold. */
const SYSTEM_DIRS = new Set([
  "/",
  "/bin",
  "/boot",
  "/dev",
  "/dev/shm",
  "/etc",
  "/home",
  "/lib",
  "/lib32",
  "/lib64",
  "/libx32",
  "/media",
  "/mnt",
  "/opt",
  "/proc",
  "/root",
  "/run",
  "/run/user",
  "/sbin",
  "/srv",
  "/sys",
  "/tmp",
  "/usr",
  "/usr/bin",
  "/usr/include",
  "/usr/lib",
  "/usr/lib64",
  "/usr/libexec",
  "/usr/local",
  "/usr/local/bin",
  "/usr/local/lib",
  "/usr/sbin",
  "/usr/share",
  "/usr/src",
  "/var",
  "/var/backups",
  "/var/cache",
  "/var/lib",
  "/var/local",
  "/var/log",
  "/var/mail",
  "/var/opt",
  "/var/run",
  "/var/spool",
  "/var/tmp",
]);

export interface GuardOptions {
  /** The template cache (`--cache-dir`), null when disabled. */
  cacheDir: string | null;
  /** The gRPC Unix socket path. */
  grpcSocket: string;
  /** Where the list of users (home directories) comes from. */
  passwdFile?: string;
}

export type PgdataState = "absent" | "empty" | "postgres" | "owned";

/** The marker beside `pgdata` recording the directory this agent created there. */
export function ownerMarkerPath(pgdata: string): string {
  return path.join(path.dirname(pgdata), `.${path.basename(pgdata)}.compute_ctl-owned`);
}

function identity(st: { dev: number; ino: number }): string {
  return `${st.dev}:${st.ino}\n`;
}

/** Records `pgdata` (as it is now) as created by this agent; best effort (a read-only parent). */
export function markOwned(pgdata: string): void {
  try {
    writeFileSync(ownerMarkerPath(pgdata), identity(lstatSync(pgdata)), { mode: 0o644 });
  } catch {
    // Without a marker only PG_VERSION or emptiness lets the next start wipe it.
  }
}

// The guard runs on the start path: no exceptions for the expected "does not exist".
const lstatOrNull = (p: string) => lstatSync(p, { throwIfNoEntry: false }) ?? null;

function isOwned(pgdata: string, st: { dev: number; ino: number }): boolean {
  const marker = ownerMarkerPath(pgdata);
  if (!lstatOrNull(marker)?.isFile()) return false;
  try {
    return readFileSync(marker, "utf8") === identity(st);
  } catch {
    return false;
  }
}

/** `p` with every existing component's symlinks resolved (the rest appended as given). */
function resolvedPath(p: string): string {
  const rest: string[] = [];
  let dir = p;
  const exists = (d: string) => {
    try {
      return lstatOrNull(d) !== null;
    } catch {
      return false;
    }
  };
  while (!exists(dir)) {
    const parent = path.dirname(dir);
    if (parent === dir) return p;
    rest.push(path.basename(dir));
    dir = parent;
  }
  try {
    return path.join(realpathSync.native(dir), ...rest.reverse());
  } catch {
    return p;
  }
}

function isSameOrParent(candidate: string, of: string): boolean {
  const rel = path.relative(candidate, of);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

const homesRead = new Map<string, { user: string; home: string }[]>();

/** Every user's home directory (read once per process: users do not come and go under us). */
function homeDirectories(passwdFile: string): { user: string; home: string }[] {
  const known = homesRead.get(passwdFile);
  if (known) return known;
  const homes = [{ user: "this agent's user", home: os.homedir() }];
  homesRead.set(passwdFile, homes);
  try {
    for (const line of readFileSync(passwdFile, "utf8").split("\n")) {
      const f = line.split(":");
      if (f.length >= 6 && f[5].startsWith("/")) homes.push({ user: f[0], home: path.resolve(f[5]) });
    }
  } catch {
    // no passwd file: the agent's own home still counts
  }
  return homes;
}

/** Paths `-D` may be neither equal to nor a parent of, with what they are. */
function protectedPaths(opts: GuardOptions): { dir: string; what: string }[] {
  const out = homeDirectories(opts.passwdFile ?? "/etc/passwd").map((h) => ({
    dir: h.home,
    what: `the home directory of ${h.user}`,
  }));
  if (opts.cacheDir) out.push({ dir: path.resolve(opts.cacheDir), what: "the template cache (--cache-dir)" });
  out.push({ dir: path.dirname(path.resolve(opts.grpcSocket)), what: "the gRPC socket's directory" });
  return out;
}

function checkLocation(pgdata: string, opts: GuardOptions): void {
  const candidates = new Set([pgdata, resolvedPath(pgdata)]);
  for (const p of candidates) {
    if (SYSTEM_DIRS.has(p)) throw new PgdataRefusedError(pgdata, `${p} is a system directory`);
  }
  for (const { dir, what } of protectedPaths(opts)) {
    for (const p of candidates) {
      if (isSameOrParent(p, dir)) {
        throw new PgdataRefusedError(pgdata, p === dir ? `it is ${what}` : `it contains ${what} (${dir})`);
      }
      if (what.startsWith("the template cache") && isSameOrParent(dir, p)) {
        throw new PgdataRefusedError(pgdata, `it is inside ${what} (${dir})`);
      }
    }
  }
}

/** Up to `max` entry names of `dir`, without reading a huge directory whole. */
function someEntries(dir: string, max: number): string[] {
  const names: string[] = [];
  const d = opendirSync(dir);
  try {
    for (let e = d.readSync(); e !== null && names.length < max; e = d.readSync()) names.push(e.name);
  } finally {
    d.closeSync();
  }
  return names;
}

function isRegularFile(file: string): boolean {
  try {
    return lstatOrNull(file)?.isFile() === true;
  } catch {
    return false;
  }
}

/**
 * Throws PgdataRefusedError unless the agent may wipe `pgdata` (an absolute path); returns what
 * it found there.
 */
export function checkPgdata(pgdata: string, opts: GuardOptions): PgdataState {
  if (!path.isAbsolute(pgdata)) throw new PgdataRefusedError(pgdata, "not an absolute path");
  checkLocation(pgdata, opts);
  let st: NonNullable<ReturnType<typeof lstatOrNull>>;
  try {
    const found = lstatOrNull(pgdata);
    if (!found) return "absent";
    st = found;
  } catch (err) {
    throw new PgdataRefusedError(pgdata, (err as Error).message);
  }
  if (st.isSymbolicLink()) {
    throw new PgdataRefusedError(pgdata, "it is a symbolic link; give the directory itself");
  }
  if (!st.isDirectory()) throw new PgdataRefusedError(pgdata, "it exists and is not a directory");
  if (isRegularFile(path.join(pgdata, "PG_VERSION"))) return "postgres";
  if (isOwned(pgdata, st)) return "owned";
  let entries: string[];
  try {
    entries = someEntries(pgdata, 6).filter((n) => n !== "lost+found");
  } catch (err) {
    throw new PgdataRefusedError(pgdata, `cannot list it: ${(err as Error).message}`);
  }
  if (entries.length === 0) return "empty";
  throw new PgdataRefusedError(
    pgdata,
    `it is not empty and is not a Postgres data directory (no PG_VERSION); it holds ${entries
      .slice(0, 5)
      .map((n) => JSON.stringify(n))
      .join(", ")}${entries.length > 5 ? ", ..." : ""}. Empty it or choose another path`,
  );
}
