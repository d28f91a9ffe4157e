// The exporter's Unix socket, `neon-communicator.socket` in PGDATA (Neon's name and place), mode
// 0600 and owned by the owner of PGDATA. The exporter is a thread of the agent, which may run as
// root in a directory the Postgres OS user owns, so no step here trusts a path inside PGDATA to
// stay what it was: the socket is bound in a fresh private directory (0700, ours), reached
// through its open descriptor (/proc/self/fd/N), given its mode and owner there, and only then
// renamed to its name in PGDATA. That also keeps the bound path short: a data directory of any
// length works (sun_path holds 107 bytes), where a process would chdir, which a thread cannot.
import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  lchownSync,
  lstatSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmdirSync,
  rmSync,
  unlinkSync,
} from "node:fs";
import type { Server } from "node:net";
import path from "node:path";

export const SOCKET_NAME = "neon-communicator.socket";

export function exporterSocketPath(pgdata: string): string {
  return path.join(path.resolve(pgdata), SOCKET_NAME);
}

export interface DataDirSocket {
  readonly path: string;
  /** Removes the socket if the name still holds the one we bound. */
  remove(): void;
}

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;
const viaFd = (fd: number, name: string) => `/proc/self/fd/${fd}/${name}`;

function listen(server: Server, at: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(at, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/**
 * Binds `server` on `<pgdata>/neon-communicator.socket`. A stale socket under that name is
 * replaced; any other file is left alone and reported.
 */
export async function listenInDataDir(
  server: Server,
  pgdata: string,
  owner: { uid: number; gid: number } | null,
): Promise<DataDirSocket> {
  const dir = path.resolve(pgdata);
  const final = path.join(dir, SOCKET_NAME);
  try {
    if (!lstatSync(final).isSocket())
      throw new Error(`${final} exists and is not a socket; not replacing it`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const dirFd = openSync(dir, O_RDONLY | O_DIRECTORY);
  let privName: string | null = null;
  let privFd: number | null = null;
  try {
    privName = path.basename(mkdtempSync(path.join(dir, ".exporter-socket-")));
    privFd = openSync(viaFd(dirFd, privName), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    const st = fstatSync(privFd);
    // mkdtemp made it 0700 for us; anything else at that name was swapped in by someone else.
    if (st.uid !== process.getuid?.() || (st.mode & 0o077) !== 0)
      throw new Error(`${path.join(dir, privName)} changed under the exporter; not binding there`);
    // libuv unlinks the bound path when the server closes, long after this descriptor is closed
    // and its number perhaps reused: a name nothing else has makes that unlink a no-op.
    const bound = viaFd(privFd, `${privName}.sock`);
    await listen(server, bound);
    let ino: number;
    try {
      // chmod follows links and Linux has no lchmod: safe here, where only we can write.
      chmodSync(bound, 0o600);
      if (owner) lchownSync(bound, owner.uid, owner.gid);
      ino = lstatSync(bound).ino;
      renameSync(bound, viaFd(dirFd, SOCKET_NAME));
    } catch (err) {
      server.close();
      rmSync(bound, { force: true });
      throw err;
    }
    return {
      path: final,
      remove() {
        try {
          if (lstatSync(final).ino === ino) unlinkSync(final);
        } catch {
          // already gone
        }
      },
    };
  } finally {
    if (privFd !== null) closeSync(privFd);
    if (privName !== null) {
      try {
        rmdirSync(viaFd(dirFd, privName));
      } catch {
        // renamed or filled by someone else: not ours to clean
      }
    }
    closeSync(dirFd);
  }
}
