// The manifest of a published template: its key, the Postgres version it was built with, and
// every file and directory of the cluster with the identity the kernel gave it at publish time.
//
// Why identities and not content hashes: the manifest is checked on every start, on the critical
// path. Hashing every file of the cluster costs more than copying it (bench: cold start). Instead each entry records
// (type, mode, size, inode, ctime in ns). Every change made through the kernel (write, truncate,
// unlink and re-create, rename over, chmod, chown, utimes, adding or removing a directory entry)
// sets ctime to the current time, and user space cannot set ctime back; re-creating a file also
// changes its inode. So an entry whose identity still matches has not been changed since publish,
// and the check costs one lstat per entry, done while copying. Not covered: damage below the
// filesystem (media errors) and someone resetting the system clock to forge a ctime; Postgres
// itself checks the CRCs of pg_control and of the WAL records it replays at start.
import { type BigIntStats, lstatSync } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import type { TemplateKey } from "./template-cache-key.js";

export const MANIFEST_FORMAT = 1;

/** Files a running server leaves behind; never part of a template. */
const RUNTIME_FILES = new Set(["postmaster.pid", "postmaster.opts"]);

export interface ManifestEntry {
  /** Relative to the template's data directory; "" is the data directory itself. */
  readonly path: string;
  readonly type: "dir" | "file";
  readonly mode: number;
  readonly size: string;
  readonly ino: string;
  readonly ctimeNs: string;
}

export interface TemplateManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly key: TemplateKey;
  /** `postgres --version` of the build that made the template. */
  readonly postgresVersion: string;
  readonly createdAt: string;
  /** Directories before their contents. */
  readonly entries: readonly ManifestEntry[];
}

export class TemplateDamagedError extends Error {
  override readonly name = "TemplateDamagedError";
}

/** lstat with nanosecond times and 64-bit inodes, as the manifest records them. */
export function lstatExact(file: string): Promise<BigIntStats> {
  return lstat(file, { bigint: true });
}

export function lstatExactSync(file: string): BigIntStats {
  return lstatSync(file, { bigint: true });
}

function entryOf(rel: string, st: BigIntStats): ManifestEntry {
  return {
    path: rel,
    type: st.isDirectory() ? "dir" : "file",
    mode: Number(st.mode & 0o7777n),
    size: String(st.size),
    ino: String(st.ino),
    ctimeNs: String(st.ctimeNs),
  };
}

/** Describes the tree under `dataDir` (regular files and directories only). */
export async function scanTemplate(dataDir: string): Promise<ManifestEntry[]> {
  const entries: ManifestEntry[] = [];
  async function walk(rel: string): Promise<void> {
    const abs = path.join(dataDir, rel);
    const st = await lstatExact(abs);
    if (st.isDirectory()) {
      entries.push(entryOf(rel, st));
      const names = (await readdir(abs)).filter((n) => rel !== "" || !RUNTIME_FILES.has(n)).sort();
      for (const name of names) await walk(rel === "" ? name : `${rel}/${name}`);
    } else if (st.isFile()) {
      entries.push(entryOf(rel, st));
    } else {
      throw new Error(`template ${dataDir}: ${rel} is neither a file nor a directory`);
    }
  }
  await walk("");
  return entries;
}

/**
 * Throws TemplateDamagedError unless `st` (an lstat taken now) is the entry as published. Runs
 * once per entry on every cached start, mostly before the JIT has warmed up: it compares
 * bigints and builds strings only to report a mismatch.
 */
export function checkEntry(entry: ManifestEntry, st: BigIntStats): void {
  const dir = entry.type === "dir";
  const what = () => entry.path || "data directory";
  if (st.isDirectory() !== dir || (!dir && !st.isFile()))
    throw new TemplateDamagedError(`${what()}: is no longer a ${entry.type}`);
  if (!dir && st.size !== BigInt(entry.size))
    throw new TemplateDamagedError(`${what()}: size ${st.size}, published with ${entry.size}`);
  if (st.ino !== BigInt(entry.ino))
    throw new TemplateDamagedError(`${what()}: replaced since publish (new inode)`);
  if ((st.mode & 0o7777n) !== BigInt(entry.mode) || st.ctimeNs !== BigInt(entry.ctimeNs))
    throw new TemplateDamagedError(`${what()}: modified since publish (ctime or mode changed)`);
}

function isDecimal(v: unknown): v is string {
  return typeof v === "string" && /^\d{1,30}$/.test(v);
}

/** Parses manifest.json; any deviation from the expected shape means a damaged template. */
export function parseManifest(text: string): TemplateManifest {
  let m: TemplateManifest;
  try {
    m = JSON.parse(text);
  } catch (err) {
    throw new TemplateDamagedError("manifest.json is not valid JSON", { cause: err });
  }
  const ok =
    m &&
    m.format === MANIFEST_FORMAT &&
    typeof m.postgresVersion === "string" &&
    typeof m.key === "object" &&
    Array.isArray(m.entries) &&
    m.entries.length > 0 &&
    m.entries[0].path === "" &&
    m.entries.every(
      (e) =>
        typeof e.path === "string" &&
        !e.path.startsWith("/") &&
        !e.path.split("/").includes("..") &&
        (e.type === "dir" || e.type === "file") &&
        // Decimal strings: checkEntry compares them as bigints.
        isDecimal(e.size) &&
        isDecimal(e.ino) &&
        isDecimal(e.ctimeNs) &&
        Number.isInteger(e.mode),
    );
  if (!ok) throw new TemplateDamagedError("manifest.json does not describe a template");
  return m;
}
