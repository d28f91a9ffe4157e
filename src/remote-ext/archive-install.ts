// Unpacks an extension archive (`.tar.zst` with `share/` and `lib/` trees) into the Postgres
// share and package-library directories, all or nothing:
//  1. the stream is decompressed and parsed entry by entry into two staging directories, one
//     inside each target (same filesystem, so the final moves are renames);
//  2. every entry is checked first: only directories, regular files, symlinks and hard links;
//     no absolute paths, no `..`, no link whose target leaves its tree (`share/` or `lib/`), no
//     entry below a symlink; at most `maxEntries` entries and `maxBytes` bytes in all;
//  3. only when the whole archive passed are the new files renamed into place (existing files
//     are kept: the local installation wins, as Neon's); a failure there renames the moved ones
//     back. The staging directories are removed in every case.
// Files get mode 0644 (0755 if executable), directories 0755, owned by the agent's user: when it
// runs as root, Postgres can read them but the directories stay unwritable to it.
import {
  chmodSync,
  closeSync,
  copyFileSync,
  fchmodSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeSync,
} from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { type Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Parser, type ReadEntry } from "tar";
import { ZstdDecompressStream } from "../zstd/zstd-codec.js";
import type { PgInstallDirs } from "./pg-install-dirs.js";

export const STAGING_PREFIX = ".compute_ctl-ext-";

export interface InstallLimits {
  /** Compressed bytes read and unpacked bytes written, each. */
  maxBytes: number;
  maxEntries: number;
}

export interface InstallReport {
  /** Compressed size of the archive. */
  downloadedBytes: number;
  /** Paths (relative to the targets, e.g. `share/extension/x.control`) installed. */
  installed: string[];
  /** Paths that existed already and were left as they were. */
  kept: string[];
}

export class UnsafeArchiveError extends Error {
  override readonly name = "UnsafeArchiveError";
}

type Root = "share" | "lib";

interface Staging {
  share: string;
  lib: string;
}

/** `share/extension/x.sql` -> ["share", ["extension", "x.sql"]]; null for entries outside both trees. */
function splitEntryPath(raw: string): { root: Root; rel: string[] } | null {
  if (raw.includes("\0") || raw.includes("\\"))
    throw new UnsafeArchiveError(`entry ${JSON.stringify(raw)}: bad characters`);
  if (raw.startsWith("/")) throw new UnsafeArchiveError(`entry ${JSON.stringify(raw)}: absolute path`);
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new UnsafeArchiveError(`entry ${JSON.stringify(raw)}: '..' in the path`);
  if (parts.length === 0) return null;
  const [root, ...rel] = parts;
  if (root !== "share" && root !== "lib") return null;
  return { root, rel };
}

/** A link target, resolved against the entry's directory, must stay inside the entry's tree. */
function checkLinkTarget(raw: string, rel: string[], linkpath: string, sameTree: boolean): string[] {
  if (linkpath.includes("\0")) throw new UnsafeArchiveError(`link ${JSON.stringify(raw)}: bad target`);
  if (linkpath.startsWith("/"))
    throw new UnsafeArchiveError(`link ${JSON.stringify(raw)} -> ${linkpath}: absolute target`);
  const base = sameTree ? rel.slice(0, -1) : [];
  const resolved = path.posix.normalize([...base, linkpath].join("/"));
  if (resolved === ".." || resolved.startsWith("../") || resolved.startsWith("/"))
    throw new UnsafeArchiveError(`link ${JSON.stringify(raw)} -> ${linkpath}: target outside its tree`);
  return resolved.split("/").filter((p) => p !== "" && p !== ".");
}

class ArchiveWriter {
  readonly #symlinks = new Set<string>();
  readonly #files = new Set<string>();
  #entries = 0;
  #bytes = 0;

  constructor(
    private readonly staging: Staging,
    private readonly limits: InstallLimits,
  ) {}

  /**
   * Handles one entry; throws UnsafeArchiveError to refuse the archive (errors while its body
   * streams go to `fail`).
   */
  entry(e: ReadEntry, fail: (err: Error) => void): void {
    if (++this.#entries > this.limits.maxEntries)
      throw new UnsafeArchiveError(`archive has more than ${this.limits.maxEntries} entries`);
    const where = splitEntryPath(e.path);
    if (where === null || where.rel.length === 0) {
      e.resume(); // outside share/ and lib/ (a README, the top directories themselves)
      return;
    }
    const { root, rel } = where;
    const key = `${root}/${rel.join("/")}`;
    for (let i = 1; i < rel.length; i++) {
      if (this.#symlinks.has(`${root}/${rel.slice(0, i).join("/")}`))
        throw new UnsafeArchiveError(`entry ${JSON.stringify(e.path)}: below a symlink of the archive`);
    }
    const dest = path.join(this.staging[root], ...rel);
    const parent = path.dirname(dest);
    switch (e.type) {
      case "Directory":
        this.#mkdir(dest);
        e.resume();
        return;
      case "File":
      case "OldFile":
      case "ContiguousFile": {
        this.#reserve(e.size, e.path);
        this.#mkdir(parent);
        rmSync(dest, { force: true, recursive: true });
        const executable = ((e.mode ?? 0o644) & 0o111) !== 0;
        const fd = openSync(dest, "wx", 0o600);
        // Explicit modes: whatever the agent's umask, Postgres (another user) must read them.
        fchmodSync(fd, executable ? 0o755 : 0o644);
        let written = 0;
        let broken = false;
        e.on("data", (chunk: Buffer) => {
          if (broken) return;
          try {
            written += chunk.length;
            if (written > e.size)
              throw new UnsafeArchiveError(`entry ${JSON.stringify(e.path)}: longer than its header`);
            writeSync(fd, chunk);
          } catch (err) {
            broken = true;
            fail(err as Error);
          }
        });
        e.on("end", () => closeSync(fd));
        this.#files.add(key);
        return;
      }
      case "SymbolicLink": {
        checkLinkTarget(e.path, rel, e.linkpath ?? "", true);
        this.#mkdir(parent);
        rmSync(dest, { force: true, recursive: true });
        symlinkSync(e.linkpath ?? "", dest);
        this.#symlinks.add(key);
        e.resume();
        return;
      }
      case "Link": {
        // Hard links name an earlier entry of the archive: copied, never linked to anything else.
        const target = splitEntryPath(e.linkpath ?? "");
        if (!target || target.root !== root)
          throw new UnsafeArchiveError(
            `hard link ${JSON.stringify(e.path)} -> ${e.linkpath}: target outside its tree`,
          );
        checkLinkTarget(e.path, target.rel, "", false);
        const targetKey = `${root}/${target.rel.join("/")}`;
        if (!this.#files.has(targetKey))
          throw new UnsafeArchiveError(
            `hard link ${JSON.stringify(e.path)} -> ${e.linkpath}: not an earlier file of the archive`,
          );
        const src = path.join(this.staging[root], ...target.rel);
        this.#reserve(lstatSync(src).size, e.path);
        this.#mkdir(parent);
        rmSync(dest, { force: true, recursive: true });
        copyFileSync(src, dest);
        chmodSync(dest, lstatSync(src).mode & 0o755);
        this.#files.add(key);
        e.resume();
        return;
      }
      default:
        throw new UnsafeArchiveError(`entry ${JSON.stringify(e.path)}: ${e.type} entries are not allowed`);
    }
  }

  /** Creates a directory (and its parents inside the staging tree) with mode 0755 whatever the umask. */
  #mkdir(dir: string): void {
    const first = mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (first === undefined) return;
    for (let d = dir; d.length >= first.length; d = path.dirname(d)) chmodSync(d, 0o755);
  }

  #reserve(bytes: number, name: string): void {
    this.#bytes += bytes;
    if (this.#bytes > this.limits.maxBytes)
      throw new UnsafeArchiveError(
        `archive unpacks to more than ${this.limits.maxBytes} bytes (at ${JSON.stringify(name)})`,
      );
  }
}

/** Counts compressed bytes and stops past the limit. */
function byteLimit(max: number, counter: { n: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      counter.n += chunk.length;
      if (counter.n > max) done(new UnsafeArchiveError(`archive is larger than ${max} bytes`));
      else done(null, chunk);
    },
  });
}

/** The tar parser as a Writable, so pipeline() carries backpressure and errors both ways. */
function tarSink(writer: ArchiveWriter): Writable {
  let failure: Error | null = null;
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      if (failure) {
        entry.resume();
        return;
      }
      try {
        writer.entry(entry, (err) => {
          failure ??= err;
        });
      } catch (err) {
        failure = err as Error;
        entry.resume();
      }
    },
  });
  parser.on("warn", (_code: string, message: string | Error) => {
    failure ??= new UnsafeArchiveError(
      `not a valid tar archive: ${message instanceof Error ? message.message : message}`,
    );
  });
  let ended: (err?: Error | null) => void = () => {};
  parser.on("end", () => ended(failure));
  parser.on("error", (err: Error) => ended(failure ?? err));
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      if (failure) return done(failure);
      const ok = parser.write(chunk);
      const next = () => done(failure);
      if (ok) next();
      else parser.once("drain", next);
    },
    final(done) {
      if (failure) return done(failure);
      ended = (err) => done(err ?? null);
      parser.end();
    },
  });
}

/** Moves `from/*` into `to`, merging into existing real directories; returns what moved where. */
function moveInto(
  from: string,
  to: string,
  label: string,
  report: InstallReport,
  moved: [string, string][],
): void {
  for (const name of readdirSync(from)) {
    const src = path.join(from, name);
    const dst = path.join(to, name);
    let existing: ReturnType<typeof lstatSync> | undefined;
    try {
      existing = lstatSync(dst);
    } catch {
      existing = undefined;
    }
    if (!existing) {
      renameSync(src, dst);
      moved.push([dst, src]);
      report.installed.push(`${label}/${name}`);
    } else if (existing.isDirectory() && lstatSync(src).isDirectory()) {
      moveInto(src, dst, `${label}/${name}`, report, moved);
    } else {
      report.kept.push(`${label}/${name}`);
    }
  }
}

export async function installArchive(
  body: Readable,
  dirs: Pick<PgInstallDirs, "sharedir" | "pkglibdir">,
  limits: InstallLimits,
): Promise<InstallReport> {
  const staging: Staging = {
    share: await mkdtemp(path.join(dirs.sharedir, STAGING_PREFIX)),
    lib: "",
  };
  try {
    staging.lib = await mkdtemp(path.join(dirs.pkglibdir, STAGING_PREFIX));
    const counter = { n: 0 };
    const writer = new ArchiveWriter(staging, limits);
    await pipeline(
      body,
      byteLimit(limits.maxBytes, counter),
      new ZstdDecompressStream(limits.maxBytes + 1024 * 1024),
      tarSink(writer),
    );
    const report: InstallReport = { downloadedBytes: counter.n, installed: [], kept: [] };
    const moved: [string, string][] = [];
    try {
      moveInto(staging.share, dirs.sharedir, "share", report, moved);
      moveInto(staging.lib, dirs.pkglibdir, "lib", report, moved);
    } catch (err) {
      for (const [dst, src] of moved.reverse()) {
        try {
          renameSync(dst, src);
        } catch {
          rmSync(dst, { recursive: true, force: true });
        }
      }
      throw err;
    }
    return report;
  } finally {
    await Promise.all([
      rm(staging.share, { recursive: true, force: true }),
      staging.lib ? rm(staging.lib, { recursive: true, force: true }) : undefined,
    ]);
  }
}

/** Removes staging directories a crashed agent left behind (at start, before any download). */
export function removeStaleStaging(dirs: Pick<PgInstallDirs, "sharedir" | "pkglibdir">): void {
  for (const dir of [dirs.sharedir, dirs.pkglibdir]) {
    for (const name of readdirSync(dir)) {
      if (name.startsWith(STAGING_PREFIX)) rmSync(path.join(dir, name), { recursive: true, force: true });
    }
  }
}
