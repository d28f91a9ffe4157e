// The OS identity Postgres runs as. initdb and postgres refuse to run as root, so when the agent
// is root it spawns them with the uid/gid of `--pg-user` (libuv drops supplementary groups too).
import { readFileSync, statSync } from "node:fs";
import path from "node:path";

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function lookupOsUser(name: string, passwdFile = "/etc/passwd"): OsUser {
  for (const line of readFileSync(passwdFile, "utf8").split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 6) return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
  }
  throw new Error(`OS user ${JSON.stringify(name)} does not exist (needed to run Postgres as non-root)`);
}

/** The user to run Postgres as: `--pg-user` when we are root, nobody else (run as ourselves) otherwise. */
export function postgresOsUser(pgUser: string): OsUser | null {
  return process.getuid?.() === 0 ? lookupOsUser(pgUser) : null;
}

/** Spawn options that make a child run as `user` (no-op when user is null). */
export function asUser(user: OsUser | null): { uid?: number; gid?: number } {
  return user ? { uid: user.uid, gid: user.gid } : {};
}

/**
 * Why `user` cannot execute `file` (a directory on the way it may not search, or the file itself),
 * or null when it can. Judged from the mode bits with the user's uid and primary gid only, which
 * is exactly what a child spawned with asUser() has.
 */
export function whyUnreachable(user: OsUser, file: string): string | null {
  const parts = path.resolve(file).split(path.sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const p = `${path.sep}${parts.slice(0, i).join(path.sep)}`;
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch (err) {
      return `${p}: ${(err as Error).message}`;
    }
    const shift = st.uid === user.uid ? 6 : st.gid === user.gid ? 3 : 0;
    if (((Number(st.mode) >> shift) & 1) === 0) {
      const what = i === parts.length ? "not executable" : "not searchable";
      return `${p} is ${what} by ${user.name} (uid ${user.uid}): mode ${(Number(st.mode) & 0o777).toString(8).padStart(4, "0")}, owner uid ${st.uid}`;
    }
  }
  return null;
}
