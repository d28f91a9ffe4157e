// Tells when some files may have changed, so their reader can look again: an inotify watch on
// each file's directory (and on the directory its symlink resolves to), a periodic re-check as a
// backstop, and `fire()` for SIGHUP. It never decides whether the content changed; the reader
// compares what it reads. Watching directories, not files, is what sees a Kubernetes Secret
// volume update: the kubelet writes a new timestamped directory and swaps the `..data` symlink,
// so the file's own inode never changes. The directories are resolved again at every check, so
// the new timestamped directory is watched from the swap on and the removed one is let go. A
// directory that cannot be watched (absent yet, or removed) is tried again at the next check.
import { type FSWatcher, realpathSync, watch } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";

export interface FileChangeTriggerOptions {
  /** Periodic re-check (default 60 s, as Neon polls its certificate). */
  intervalMs?: number;
  /** Events closer than this are one check (a rotation writes several files). Default 200 ms. */
  debounceMs?: number;
  log: Logger;
}

export class FileChangeTrigger {
  readonly #files: readonly string[];
  readonly #onTrigger: () => void;
  readonly #log: Logger;
  readonly #debounceMs: number;
  readonly #watchers = new Map<string, FSWatcher>();
  readonly #interval: NodeJS.Timeout;
  #pending: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(files: readonly string[], onTrigger: () => void, opts: FileChangeTriggerOptions) {
    this.#files = files;
    this.#onTrigger = onTrigger;
    this.#log = opts.log;
    this.#debounceMs = opts.debounceMs ?? 200;
    this.#watchDirectories();
    this.#interval = setInterval(() => {
      this.#watchDirectories();
      this.#onTrigger();
    }, opts.intervalMs ?? 60_000);
    this.#interval.unref();
  }

  /** A check soon (debounced): SIGHUP, or a directory event. */
  fire(): void {
    if (this.#closed || this.#pending) return;
    this.#pending = setTimeout(() => {
      this.#pending = null;
      if (this.#closed) return;
      this.#watchDirectories();
      this.#onTrigger();
    }, this.#debounceMs);
    this.#pending.unref();
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#interval);
    if (this.#pending) clearTimeout(this.#pending);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }

  #directories(): Set<string> {
    const dirs = new Set<string>();
    for (const file of this.#files) {
      dirs.add(path.dirname(path.resolve(file)));
      try {
        dirs.add(path.dirname(realpathSync(file)));
      } catch {
        // not there yet: its own directory is enough until it appears
      }
    }
    return dirs;
  }

  /** The directories watched now (for tests). */
  get watchedDirectories(): string[] {
    return [...this.#watchers.keys()];
  }

  #watchDirectories(): void {
    if (this.#closed) return;
    const dirs = this.#directories();
    for (const [dir, w] of this.#watchers) {
      if (dirs.has(dir)) continue;
      w.close();
      this.#watchers.delete(dir);
    }
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.fire());
        w.on("error", (err) => {
          this.#log.debug({ err, dir }, "directory watch ended; the periodic check watches it again");
          w.close();
          this.#watchers.delete(dir);
        });
        this.#watchers.set(dir, w);
      } catch (err) {
        this.#log.debug({ err, dir }, "cannot watch directory yet; the periodic check tries again");
      }
    }
  }
}
