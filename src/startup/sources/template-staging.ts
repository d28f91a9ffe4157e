// A waiting agent (started without a spec) knows its -D, its -C superuser and its template, so
// it copies the template before the spec arrives, into a sibling of the data directory:
//
//   <parent>/.<name>.staged                   the staged cluster (0700, the Postgres user's)
//   <parent>/.<name>.staged.compute_ctl       our marker: the staged directory's identity, this
//                                             process's token, and whether the copy is complete
//
// When an initdb spec arrives, the start renames the staged directory onto the empty data
// directory (one rename(2): same parent, same filesystem) instead of copying. Anything else
// discards it: a spec of another source kind, the template changed since (upgrade, rebuild), a
// staged tree that is not exactly what this process wrote (every entry's identity is checked as
// the template's are), a marker or owner that is not ours. Staging of a previous agent is never
// used: the token lives in this process's memory only; at launch a leftover is removed if its
// marker says we made it, and left alone (no staging) otherwise. The agent's exit removes it.
//
// A launch with an initdb spec stages too, as its first act (startup/head-start.ts): the copy runs
// as a `cp` child on the other core while the agent loads its modules and validates the spec,
// and the start renames the result into place. That staging lives for a fraction of a second,
// inside this process's own start, so the start checks its marker, identity, owner and template
// but not every entry again (as a copy straight into -D is not re-read either); the copy itself
// checks the template entry by entry as every copy does. Without a template cache
// (--no-template-cache) a head start runs initdb into the staged directory instead.
//
// When -D is a mount point the rename cannot cross it: nothing is staged (staging inside the
// mount would put files in a directory the -D guard only lets us wipe, before any spec asked
// for it) and the start copies from the template as without staging.
import { randomBytes } from "node:crypto";
import { chownSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import type { OsUser } from "../../postgres/os-user.js";
import { checkPgdata, type GuardOptions, markOwned } from "../pgdata-guard.js";
import { type Template, TemplateCache } from "./template-cache.js";
import { copyVerified, copyVerifiedByChild, type Owner } from "./template-cache-copy.js";
import { sameKey, type TemplateKey } from "./template-cache-key.js";
import {
  checkEntry,
  lstatExactSync,
  type ManifestEntry,
  scanTemplate,
  TemplateDamagedError,
} from "./template-cache-manifest.js";

/** What staging logs (pino's methods; a launch's head start logs before the logger exists). */
export type StagingLog = Pick<Logger, "info" | "warn">;

/**
 * `waiting`: an agent without a spec, the staging may wait for minutes (copied in the event
 * loop's idle time, every entry re-checked when taken). `head_start`: a launch copying while it
 * loads (a `cp` child; see the file comment).
 */
export type StagingKind = "waiting" | "head_start";

export interface StagingOptions {
  readonly pgdata: string;
  /** null: no template cache; a head start then fills the staged directory with `initdb`. */
  readonly cacheDir: string | null;
  /** Runs initdb into the (empty) directory given (head starts without a template cache). */
  readonly initdb?: (dir: string, signal: AbortSignal) => Promise<void>;
  readonly guard: GuardOptions;
  readonly osUser: OsUser | null;
  readonly log: StagingLog;
  /** The template key for these binaries, superuser and OS user (template-cache-source.ts). */
  readonly templateKey: () => TemplateKey;
}

export function stagedPath(pgdata: string): string {
  return path.join(path.dirname(pgdata), `.${path.basename(pgdata)}.staged`);
}

export function stagingMarkerPath(pgdata: string): string {
  return `${stagedPath(pgdata)}.compute_ctl`;
}

interface Marker {
  readonly identity: string;
  readonly token: string;
  readonly complete: boolean;
}

/** What this process staged: checked against the template and the tree when a start takes it. */
interface Staged {
  readonly key: TemplateKey;
  /** The template copied (null: made by initdb). */
  readonly template: { readonly dir: string; readonly ino: bigint; readonly createdAt: string } | null;
  readonly identity: string;
  readonly owner: Owner | null;
  /** The staged tree as copied (null for a head start: see the file comment). */
  readonly entries: readonly ManifestEntry[] | null;
}

const lstatOrNull = (p: string) => lstatSync(p, { throwIfNoEntry: false }) ?? null;

function identityOf(st: { dev: number; ino: number }): string {
  return `${st.dev}:${st.ino}`;
}

function ms(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

/** The marker beside `pgdata`'s staging if it is a regular file we wrote, else null. */
function readMarker(pgdata: string): Marker | null {
  const file = stagingMarkerPath(pgdata);
  const st = lstatOrNull(file);
  if (!st?.isFile() || st.uid !== (process.getuid?.() ?? st.uid) || st.mode & 0o022) return null;
  try {
    const m = JSON.parse(readFileSync(file, "utf8")) as Marker;
    return typeof m.identity === "string" && typeof m.token === "string" && typeof m.complete === "boolean"
      ? m
      : null;
  } catch {
    return null;
  }
}

function writeMarker(pgdata: string, m: Marker): void {
  writeFileSync(stagingMarkerPath(pgdata), JSON.stringify(m), { mode: 0o600 });
}

/** Why the staging of a start cannot be used, or null when it can (throws on a damaged tree). */
function whyUnusable(
  staged: Staged,
  token: string,
  pgdata: string,
  key: TemplateKey,
  t: Template | null,
): string | null {
  if (!sameKey(staged.key, key)) return "the binaries, superuser or OS user changed since staging";
  if (staged.template && !t) return "no usable template for this start";
  if (!staged.template !== !t) return "it was not made from this start's template";
  if (
    staged.template &&
    t &&
    (staged.template.dir !== t.dir ||
      staged.template.ino !== t.dirIno ||
      staged.template.createdAt !== t.manifest.createdAt)
  )
    return "the template was replaced since staging";
  const marker = readMarker(pgdata);
  if (!marker) return "its marker is missing or not ours";
  if (marker.token !== token || !marker.complete || marker.identity !== staged.identity)
    return "its marker is not this agent's complete staging";
  const dir = stagedPath(pgdata);
  const st = lstatOrNull(dir);
  if (!st?.isDirectory()) return "it is no longer a directory";
  if (identityOf(st) !== staged.identity) return "it was replaced since staging";
  const uid = staged.owner?.uid ?? process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return `it is owned by uid ${st.uid}, not ${uid}`;
  const target = lstatOrNull(pgdata);
  if (!target?.isDirectory()) return "the data directory is not a directory";
  if (target.dev !== st.dev) return "the data directory is on another filesystem (a mount point)";
  // Every entry as this process left it (a write, chmod, chown, added or removed entry changes
  // ctime, see template-cache-manifest.ts): nothing else wrote to it since.
  for (const e of staged.entries ?? []) {
    checkEntry(e, lstatExactSync(e.path === "" ? dir : `${dir}/${e.path}`));
  }
  if (!t) return null;
  const version = readFileSync(path.join(dir, "PG_VERSION"), "utf8");
  const wanted = readFileSync(path.join(t.dataDir, "PG_VERSION"), "utf8");
  if (version !== wanted) return `PG_VERSION ${version.trim()} is not the template's ${wanted.trim()}`;
  return null;
}

export class TemplateStaging {
  /** This process's proof of authorship: a marker without it is some other run's. */
  readonly #token = randomBytes(16).toString("hex");
  #staging: Promise<Staged | null> | null = null;
  #removing: Promise<void> = Promise.resolve();
  #closed = false;
  /** Stops a head start's copy when the staging is dropped. */
  #stop = new AbortController();

  constructor(readonly opts: StagingOptions) {}

  get path(): string {
    return stagedPath(this.opts.pgdata);
  }

  /** Starts staging in the background (once); its log says whether and why not. */
  start(kind: StagingKind = "waiting"): void {
    if (this.#staging || this.#closed) return;
    const stop = new AbortController();
    this.#stop = stop;
    this.#staging = this.#stage(kind, stop.signal).catch((err: unknown) => {
      if (stop.signal.aborted) return null; // dropped on purpose (discard says why)
      this.opts.log.warn({ error: (err as Error).message }, "could not stage the data directory");
      this.#removeOurs();
      return null;
    });
  }

  /**
   * Called by the initdb source with the template it would copy (null: it would run initdb,
   * without a template cache): renames the staged directory
   * onto the (empty) data directory and returns true, or discards the staging and returns false.
   * Waits for a staging still in progress (it is further along than a new copy would be).
   */
  async take(pgdata: string, key: TemplateKey, template: Template | null): Promise<boolean> {
    const pending = this.#staging;
    if (!pending) return false;
    this.#staging = null;
    const staged = await pending;
    if (!staged) return false;
    const log = this.opts.log;
    let why: string | null;
    try {
      why =
        pgdata !== this.opts.pgdata
          ? "it was staged for another data directory"
          : whyUnusable(staged, this.#token, pgdata, key, template);
    } catch (err) {
      if (!(err instanceof TemplateDamagedError) && (err as NodeJS.ErrnoException).code !== "ENOENT")
        throw err;
      why = `it was modified since staging (${(err as Error).message})`;
    }
    if (!why) {
      try {
        // Replaces the empty data directory prepare_pgdata made (rename(2) allows that).
        renameSync(this.path, pgdata);
      } catch (err) {
        why = `rename failed: ${(err as Error).message}`;
      }
    }
    if (why) {
      log.warn(
        { staged: this.path, reason: why },
        template
          ? "staged data directory discarded, copying from the template"
          : "staged data directory discarded",
      );
      this.#removeOurs(staged.identity);
      return false;
    }
    rmSync(stagingMarkerPath(pgdata), { force: true });
    // The -D guard's record of the directory we own follows the new inode.
    markOwned(pgdata);
    return true;
  }

  /** Drops the staging (a spec that does not start from the template); removal runs in the background. */
  discard(reason: string): void {
    const pending = this.#staging;
    if (!pending) return;
    this.#staging = null;
    this.#stop.abort(new Error(reason));
    this.#removing = this.#removing.then(async () => {
      const staged = await pending;
      if (!staged) return;
      this.opts.log.info({ staged: this.path, reason }, "staged data directory discarded");
      await this.#remove(staged.identity);
    });
  }

  /** As the agent exits: no staging stays behind (waits for one in progress, then removes it). */
  async close(): Promise<void> {
    this.#closed = true;
    this.discard("the agent is exiting");
    await this.#removing;
  }

  /**
   * At launch with a spec: a staging left by an earlier agent of this -D goes (when its marker
   * says it is ours), in the background.
   */
  sweep(): void {
    this.#removing = this.#removing
      .then(async () => {
        await this.#removeLeftover();
      })
      .catch(() => {});
  }

  async #removeLeftover(): Promise<boolean> {
    const dir = this.path;
    const st = lstatOrNull(dir);
    if (!st) {
      rmSync(stagingMarkerPath(this.opts.pgdata), { force: true });
      return true;
    }
    const marker = readMarker(this.opts.pgdata);
    if (!st.isDirectory() || marker?.identity !== identityOf(st)) {
      this.opts.log.warn({ staged: dir }, "leaving the staged path alone: what is there is not ours");
      return false;
    }
    this.opts.log.info(
      { staged: dir, complete: marker.complete },
      "removing the staging of an earlier agent",
    );
    await this.#remove(marker.identity);
    return true;
  }

  /** Removes the staged directory if it is still the one with `identity`, and the marker. */
  async #remove(identity: string): Promise<void> {
    const dir = this.path;
    const st = lstatOrNull(dir);
    if (st && identityOf(st) === identity) await rm(dir, { recursive: true, force: true });
    else if (st) this.opts.log.warn({ staged: dir }, "not removing the staged path: it is no longer ours");
    rmSync(stagingMarkerPath(this.opts.pgdata), { force: true });
  }

  #removeOurs(identity?: string): void {
    this.#removing = this.#removing
      .then(async () => {
        const marker = readMarker(this.opts.pgdata);
        const id = identity ?? (marker?.token === this.#token ? marker.identity : null);
        if (id) await this.#remove(id);
      })
      .catch(() => {});
  }

  async #stage(kind: StagingKind, signal: AbortSignal): Promise<Staged | null> {
    const { pgdata, log } = this.opts;
    const skip = (reason: string) => {
      log.info({ staged: this.path, reason }, "not staging the data directory");
      return null;
    };
    try {
      checkPgdata(pgdata, this.opts.guard);
    } catch (err) {
      return skip((err as Error).message);
    }
    const parent = lstatOrNull(path.dirname(pgdata));
    if (!parent?.isDirectory()) return skip("the data directory's parent does not exist");
    const current = lstatOrNull(pgdata);
    if (current && current.dev !== parent.dev)
      return skip("the data directory is a mount point: a rename cannot cross it, the start copies");
    await this.#removing;
    if (!(await this.#removeLeftover())) return skip("the staged path is taken");
    const key = this.opts.templateKey();
    let t: Template | null = null;
    if (this.opts.cacheDir !== null) {
      const found = TemplateCache.open(this.opts.cacheDir).lookup(key);
      if (found.kind !== "hit") return skip(`no usable template yet (${found.kind})`);
      t = found.template;
    } else if (kind !== "head_start" || !this.opts.initdb) {
      return skip("no template cache");
    }
    const t0 = performance.now();
    const dir = this.path;
    const owner: Owner | null = this.opts.osUser
      ? { uid: this.opts.osUser.uid, gid: this.opts.osUser.gid }
      : null;
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM" || code === "EROFS")
        return skip(`cannot create it beside the data directory (${code})`);
      throw err;
    }
    if (owner) chownSync(dir, owner.uid, owner.gid);
    const identity = identityOf(lstatSync(dir));
    // Before the copy: a leftover of this run, however far it got, is recognised as ours.
    writeMarker(pgdata, { identity, token: this.#token, complete: false });
    const from = t ? { template: t.dir } : { initdb: true };
    log.info({ staged: dir, ...from, kind }, "staging the data directory");
    let entries: ManifestEntry[] | null = null;
    try {
      if (!t) {
        await this.opts.initdb?.(dir, signal);
      } else if (kind === "head_start") {
        await copyVerifiedByChild(t.dataDir, t.manifest.entries, dir, signal);
      } else {
        await copyVerified(t.dataDir, t.manifest.entries, dir, owner);
        entries = await scanTemplate(dir);
      }
    } catch (err) {
      // Gone before anyone waiting for this staging goes on.
      await this.#remove(identity);
      throw err;
    }
    if (this.#closed) {
      await this.#remove(identity);
      return null;
    }
    writeMarker(pgdata, { identity, token: this.#token, complete: true });
    log.info(
      { staged: dir, ...from, duration_ms: ms(t0) },
      t ? "data directory staged from the template" : "data directory staged by initdb",
    );
    return {
      key,
      template: t ? { dir: t.dir, ino: t.dirIno, createdAt: t.manifest.createdAt } : null,
      identity,
      owner,
      entries,
    };
  }
}
