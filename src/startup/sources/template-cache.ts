// The on-disk cache of pristine cluster templates, one per key, shared by every agent that uses
// the same cache directory:
//
//   <cache-dir>/                      0700, owned by the agent's user
//     initdb-<hash of key>/           a published template: never modified after publish
//       manifest.json                 key, Postgres version, identity of every entry
//       data/                         the cluster as initdb made it (owned by the Postgres user)
//     .build-XXXXXX/                  a template being built; renamed into place to publish
//     .trash-XXXXXX/                  an evicted template being removed
//
// Publishing is one rename(2) of a complete build directory, so readers see either no template
// or a complete one; when two agents publish at once the rename of the second fails because
// the name exists, and it discards its copy. Evicting renames the template away first, so a
// reader copying from it at that moment fails verification (and falls back) rather than
// reading a half-deleted tree.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { chown, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { copyVerified, type Owner } from "./template-cache-copy.js";
import { sameKey, type TemplateKey, templateDirName } from "./template-cache-key.js";
import {
  MANIFEST_FORMAT,
  parseManifest,
  scanTemplate,
  TemplateDamagedError,
  type TemplateManifest,
} from "./template-cache-manifest.js";

/** A published template found for a key; `dirIno` guards eviction against a newer publish. */
export interface Template {
  readonly dir: string;
  readonly dataDir: string;
  readonly manifest: TemplateManifest;
  readonly dirIno: bigint;
}

export type Lookup =
  | { readonly kind: "hit"; readonly template: Template }
  | { readonly kind: "missing" }
  | { readonly kind: "stale" | "damaged"; readonly reason: string; readonly dirIno: bigint };

/** Build and trash directories older than this are leftovers of an agent that died mid-way. */
const LEFTOVER_AGE_MS = 10 * 60_000;

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** Major version from `postgres --version` ("postgres (PostgreSQL) 15.18 (Debian ...)" -> "15"). */
export function majorVersion(postgresVersion: string): string | null {
  return /\(PostgreSQL\)\s+(\d+)/.exec(postgresVersion)?.[1] ?? null;
}

export class TemplateCache {
  private constructor(readonly dir: string) {}

  /**
   * Creates the cache directory (mode 0700) when it does not exist. Throws when it cannot.
   * open and lookup use synchronous calls (a few syscalls and one small read): at the start of
   * a cold start they then finish before the event loop turns to loading the agent's API.
   */
  static open(dir: string): TemplateCache {
    const abs = path.resolve(dir);
    try {
      mkdirSync(abs, { recursive: true, mode: 0o700 });
      const st = statSync(abs);
      if (!st.isDirectory()) throw new Error("not a directory");
      // Whoever can write here decides what every later compute starts from.
      const uid = process.getuid?.();
      if (uid !== undefined && st.uid !== uid) throw new Error(`owned by uid ${st.uid}, not by us (${uid})`);
      if (st.mode & 0o022) throw new Error(`writable by others (mode ${(st.mode & 0o777).toString(8)})`);
    } catch (err) {
      throw new Error(`cannot use template cache directory ${abs}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return new TemplateCache(abs);
  }

  templateDir(key: TemplateKey): string {
    return path.join(this.dir, templateDirName(key));
  }

  /** Finds the template for `key` and checks what can be checked without reading the data. */
  lookup(key: TemplateKey): Lookup {
    const dir = this.templateDir(key);
    let dirIno: bigint;
    let text: string;
    try {
      dirIno = statSync(dir, { bigint: true }).ino;
      text = readFileSync(path.join(dir, "manifest.json"), "utf8");
    } catch (err) {
      if (errCode(err) === "ENOENT") {
        // A directory without a manifest is damaged; no directory at all is a plain miss.
        const exists = statSync(dir, { bigint: true, throwIfNoEntry: false });
        return exists
          ? { kind: "damaged", reason: "manifest.json is missing", dirIno: exists.ino }
          : { kind: "missing" };
      }
      throw err;
    }
    let manifest: TemplateManifest;
    try {
      manifest = parseManifest(text);
    } catch (err) {
      return { kind: "damaged", reason: (err as Error).message, dirIno };
    }
    if (!sameKey(manifest.key, key)) {
      return {
        kind: "stale",
        reason: "built by other Postgres binaries (upgraded?) or with other initdb options",
        dirIno,
      };
    }
    // The version marker is covered by the manifest check during the copy too; reading it here
    // (one small file) also rejects a manifest that was edited to claim another version.
    const dataDir = path.join(dir, "data");
    let marker: string | null = null;
    try {
      marker = readFileSync(path.join(dataDir, "PG_VERSION"), "utf8");
    } catch {}
    const major = majorVersion(manifest.postgresVersion);
    if (marker === null || major === null || marker.trim() !== major) {
      return {
        kind: "damaged",
        reason: `PG_VERSION is ${JSON.stringify(marker?.trim() ?? null)}, the template was built by ${manifest.postgresVersion}`,
        dirIno,
      };
    }
    return { kind: "hit", template: { dir, dataDir, manifest, dirIno } };
  }

  /** Copies the template into the empty `dest`; throws TemplateDamagedError if it is damaged. */
  async copyTo(template: Template, dest: string, owner: Owner | null): Promise<void> {
    await copyVerified(template.dataDir, template.manifest.entries, dest, owner);
  }

  /**
   * Removes the template of `key` if it is still the directory with inode `dirIno` (another
   * agent may have replaced it with a good one since we looked).
   */
  async evict(key: TemplateKey, dirIno: bigint): Promise<void> {
    const dir = this.templateDir(key);
    const now = await stat(dir, { bigint: true }).catch(() => null);
    if (!now || now.ino !== dirIno) return;
    const trash = path.join(this.dir, `.trash-${randomBytes(6).toString("hex")}`);
    try {
      await rename(dir, trash);
    } catch (err) {
      if (errCode(err) === "ENOENT") return;
      throw err;
    }
    await rm(trash, { recursive: true, force: true });
  }

  /**
   * Publishes a copy of the pristine cluster in `sourceDataDir` as the template of `key`.
   * Returns false when another agent published one first (ours is discarded).
   */
  async publish(
    sourceDataDir: string,
    key: TemplateKey,
    postgresVersion: string,
    owner: Owner | null,
  ): Promise<boolean> {
    await this.removeLeftovers();
    const build = await mkdtemp(path.join(this.dir, ".build-"));
    try {
      const data = path.join(build, "data");
      await mkdir(data, { mode: 0o700 });
      if (owner) await chown(data, owner.uid, owner.gid);
      await copyVerified(sourceDataDir, await scanTemplate(sourceDataDir), data, owner);
      const manifest: TemplateManifest = {
        format: MANIFEST_FORMAT,
        key,
        postgresVersion,
        createdAt: new Date().toISOString(),
        // Scanned after every change to the copy (the chown of the root comes first).
        entries: await scanTemplate(data),
      };
      if (manifest.entries.length < 2) throw new TemplateDamagedError("the cluster to publish is empty");
      await writeFile(path.join(build, "manifest.json"), JSON.stringify(manifest), { mode: 0o600 });
      try {
        await rename(build, this.templateDir(key));
      } catch (err) {
        if (errCode(err) === "ENOTEMPTY" || errCode(err) === "EEXIST") return false;
        throw err;
      }
      return true;
    } finally {
      await rm(build, { recursive: true, force: true });
    }
  }

  private async removeLeftovers(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    await Promise.all(
      names
        .filter((n) => n.startsWith(".build-") || n.startsWith(".trash-"))
        .map(async (n) => {
          const p = path.join(this.dir, n);
          const st = await stat(p).catch(() => null);
          if (st && Date.now() - st.mtimeMs > LEFTOVER_AGE_MS) await rm(p, { recursive: true, force: true });
        }),
    );
  }
}
