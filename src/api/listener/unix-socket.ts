// Binding the API's Unix socket safely. The socket is trusted without tokens (like Postgres's own
// socket), so only the agent's OS user may reach it: mode 0600 on the socket, 0700 on a directory
// we create, and a directory someone else controls is refused. A leftover socket file from a
// crashed agent is replaced; a live one is not. The file system calls are synchronous (a handful
// of metadata calls on a local directory): the socket is bound at agent start, and a chain of
// thread-pool round trips would wait behind the module loading that runs then.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

/** Linux `sun_path` is 108 bytes with the NUL; Node silently truncates longer paths. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** Makes `socketPath` bindable: checks its length, creates its directory, removes a stale socket. */
export async function prepareSocketPath(socketPath: string): Promise<void> {
  const bytes = Buffer.byteLength(socketPath);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new Error(
      `unix socket path ${socketPath} is ${bytes} bytes; the limit is ${MAX_SOCKET_PATH_BYTES}`,
    );
  }
  const dir = path.dirname(socketPath);
  const firstCreated = fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is filtered by the umask; set it exactly, and only on directories we made.
  if (firstCreated !== undefined) {
    for (let d = dir; d.length >= firstCreated.length; d = path.dirname(d)) fs.chmodSync(d, 0o700);
  }
  checkDirectoryIsPrivate(dir);
  await removeStaleSocket(socketPath);
}

/**
 * Whoever controls the directory can swap our socket for theirs, so it must belong to us (or
 * root) and, if others may write to it, be sticky like /tmp. A predictable path such as
 * /tmp/compute_ctl-<uid> pre-created by another user is refused rather than used.
 */
function checkDirectoryIsPrivate(dir: string): void {
  const st = fs.statSync(dir);
  const me = process.geteuid?.();
  if (me !== undefined && st.uid !== me && st.uid !== 0) {
    throw new Error(`socket directory ${dir} belongs to uid ${st.uid}, not to this agent (uid ${me})`);
  }
  if (st.mode & 0o022 && !(st.mode & 0o1000)) {
    throw new Error(
      `socket directory ${dir} is writable by others (mode ${(st.mode & 0o7777).toString(8)}) and not sticky`,
    );
  }
}

async function removeStaleSocket(socketPath: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if (!stat.isSocket()) {
    throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
  }
  if (await isListening(socketPath)) {
    throw new Error(`${socketPath} is in use by a running server (another agent on the same port?)`);
  }
  fs.unlinkSync(socketPath);
}

function isListening(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    // ECONNREFUSED: nobody behind the file; it is stale.
    probe.once("error", () => resolve(false));
  });
}

let bindCounter = 0;

function listen(server: net.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

export interface BoundUnixSocket {
  /** Removes the socket file if it is still the one we bound (a successor may have replaced it). */
  release(): Promise<void>;
}

/**
 * Binds `server` at `socketPath`: the socket is bound under a temporary name in the same
 * directory, restricted to 0600 and renamed into place, so it never appears with looser
 * permissions. The rename also keeps libuv, which unlinks the path it bound when the server
 * closes, from deleting a successor's socket at `socketPath`.
 */
export async function listenUnixSocket(server: net.Server, socketPath: string): Promise<BoundUnixSocket> {
  await prepareSocketPath(socketPath);
  const temp = path.join(
    path.dirname(socketPath),
    `.${process.pid.toString(36)}-${(bindCounter++).toString(36)}.sock`,
  );
  const direct = Buffer.byteLength(temp) > MAX_SOCKET_PATH_BYTES;
  await listen(server, direct ? socketPath : temp);
  try {
    fs.chmodSync(direct ? socketPath : temp, 0o600);
    if (!direct) fs.renameSync(temp, socketPath);
  } catch (err) {
    server.close();
    throw err;
  }
  const { ino } = fs.lstatSync(socketPath);
  return {
    async release() {
      try {
        if (fs.lstatSync(socketPath).ino === ino) fs.unlinkSync(socketPath);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    },
  };
}
