// The OS identity Postgres runs as. initdb and postgres refuse to run as root, so when the agent
// is root it spawns them with the uid/gid of `--pg-user` (libuv drops supplementary groups too).
import { readFileSync } from "node:fs";

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
