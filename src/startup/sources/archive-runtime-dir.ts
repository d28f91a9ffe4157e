// The archive source's files in the agent's runtime directory: `<runtime-dir>/pgbackrest/` with
// the config file (0600; S3 secrets may be in it), lock, spool, log and socket directories, all
// owned by the user pgbackrest runs as (the Postgres OS user when the agent is root). The
// runtime directory itself belongs to the agent and is only traversable by others (0711); one
// that someone else owns or can write to is refused. Recreated on every start.
import { chmodSync, chownSync, lstatSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import type { OsUser } from "../../postgres/os-user.js";
import type { PgbackrestPaths } from "./archive-config.js";

export function prepareRuntimeDir(runtimeDir: string, paths: PgbackrestPaths, owner: OsUser | null): void {
  mkdirSync(runtimeDir, { recursive: true, mode: 0o711 });
  const st = lstatSync(runtimeDir);
  const me = process.geteuid?.();
  if (!st.isDirectory()) throw new Error(`runtime directory ${runtimeDir} is not a directory`);
  if (me !== undefined && st.uid !== me) {
    throw new Error(
      `runtime directory ${runtimeDir} belongs to uid ${st.uid}, not to this agent (uid ${me})`,
    );
  }
  if (st.mode & 0o022) {
    throw new Error(
      `runtime directory ${runtimeDir} is writable by others (mode ${(st.mode & 0o777).toString(8)})`,
    );
  }
  // Others only need to traverse it (the Postgres user reaches pgbackrest/ through it).
  chmodSync(runtimeDir, 0o711);
  rmSync(paths.dir, { recursive: true, force: true });
  for (const d of [paths.dir, paths.lock, paths.spool, paths.log, paths.socket]) {
    mkdirSync(d, { mode: 0o700 });
    if (owner) chownSync(d, owner.uid, owner.gid);
  }
}

export function writeConfigFile(paths: PgbackrestPaths, text: string, owner: OsUser | null): void {
  writeFileSync(paths.config, text, { mode: 0o600 });
  chmodSync(paths.config, 0o600);
  if (owner) chownSync(paths.config, owner.uid, owner.gid);
}
