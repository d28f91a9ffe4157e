// Where the exporter listens and how the agent reaches it. The socket keeps Neon's name in PGDATA.
// A client cannot bind/connect a path longer than sun_path (107 bytes), and the agent cannot chdir
// (process-wide), so for long paths it connects through a symlink with a short name in a private
// temp directory; the kernel follows the link with the full path length. The link is made once
// per socket path, re-made if something removed it, and removed when the process exits.
import { mkdtempSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export const SOCKET_NAME = "neon-communicator.socket";

/** Linux sun_path is 108 bytes including the terminating NUL; Neon stays below 100 to be safe. */
const MAX_DIRECT_PATH = 100;

export function exporterSocketPath(pgdata: string): string {
  return path.join(path.resolve(pgdata), SOCKET_NAME);
}

let linkDir: string | null = null;
const links = new Map<string, string>();
let seq = 0;

function ensureLinkDir(): string {
  if (!linkDir) {
    // mkdtemp creates it 0700: only we can use or replace the links inside.
    linkDir = mkdtempSync(path.join(os.tmpdir(), "cct-sock-"));
    const dir = linkDir;
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return linkDir;
}

/** A path to connect to `socketPath` with: itself when short enough, else a short symlink to it. */
export function connectablePath(socketPath: string): string {
  if (Buffer.byteLength(socketPath) < MAX_DIRECT_PATH) return socketPath;
  const existing = links.get(socketPath);
  if (existing) {
    try {
      if (readlinkSync(existing) === socketPath) return existing;
    } catch {
      // removed behind our back (a tmp cleaner): make it again below
    }
  }
  let dir = ensureLinkDir();
  const link = path.join(dir, `s${seq++}`);
  try {
    rmSync(link, { force: true });
    symlinkSync(socketPath, link);
  } catch {
    // The directory itself is gone: start a new one.
    linkDir = null;
    dir = ensureLinkDir();
    const again = path.join(dir, `s${seq++}`);
    symlinkSync(socketPath, again);
    links.set(socketPath, again);
    return again;
  }
  links.set(socketPath, link);
  return link;
}
