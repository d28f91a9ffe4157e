// What a cached cluster template depends on, and the directory name it is stored under. Two
// starts may share a template only when initdb would have produced the same cluster for both:
// same Postgres build, same initdb arguments and locale, same owning OS user, same superuser.
import { createHash } from "node:crypto";
import { statSync } from "node:fs";

/** A file's identity as the kernel reports it; equal identities mean the same, unmodified file. */
export interface FileIdentity {
  readonly path: string;
  readonly ino: string;
  readonly size: string;
  readonly ctimeNs: string;
}

export interface TemplateKey {
  /** Everything initdb is given except the data directory (superuser, encoding, locale, auth). */
  readonly initdbArgs: readonly string[];
  /** LC_ALL initdb runs under. */
  readonly locale: string;
  /** Owner of the cluster's files (the Postgres OS user, or ourselves). */
  readonly uid: number;
  readonly superuser: string;
  /**
   * The `postgres` and `initdb` binaries. `postgres --version` loads dozens of shared libraries on
   * the critical path, so a template records the version it was built with together
   * with the binaries' identities (path, inode, size, ctime); while both identities are unchanged
   * the binaries are the same files, hence the same version. A package upgrade replaces them
   * (new inode) and makes the template stale.
   */
  readonly binaries: readonly FileIdentity[];
}

/** Synchronous (one stat): part of the template lookup at the very start of a cold start. */
export function fileIdentity(file: string): FileIdentity {
  const st = statSync(file, { bigint: true });
  return { path: file, ino: String(st.ino), size: String(st.size), ctimeNs: String(st.ctimeNs) };
}

/**
 * The directory name of a key's template. The binaries' paths are part of it, their identities
 * are not: an upgraded binary at the same path replaces the stale template instead of leaving it
 * behind.
 */
export function templateDirName(key: TemplateKey): string {
  const stable = {
    initdbArgs: key.initdbArgs,
    locale: key.locale,
    uid: key.uid,
    superuser: key.superuser,
    binaries: key.binaries.map((b) => b.path),
  };
  return `initdb-${createHash("sha256").update(JSON.stringify(stable)).digest("hex").slice(0, 16)}`;
}

export function sameKey(a: TemplateKey, b: TemplateKey): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
