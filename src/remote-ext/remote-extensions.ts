// Remote extensions for one agent (`-r/--remote-ext-base-url`): control files and preloaded
// libraries at start, and the `/extension_server/{filename}` downloads afterwards, sharing one
// downloader so an extension is fetched once. The directories are found on first use; the
// download counts are kept here and read by the metrics at scrape time (a start-time download
// happens before the metrics exist).
import type { Logger } from "pino";
import { OperationError } from "../errors/operation-error.js";
import * as load from "../loading/modules.js";
import type { PgBinaries } from "../postgres/binaries.js";
import type { ComputeSpecJson } from "../spec/types.js";
import type { InstallLimits } from "./archive-install.js";
import type { ExtensionDownloader } from "./extension-downloader.js";
import type { PgInstallDirs } from "./pg-install-dirs.js";

export interface RemoteExtensionsOptions {
  baseUrl: URL;
  pg: Pick<PgBinaries, "bindir">;
  limits: InstallLimits;
  log: Logger;
  signal: AbortSignal;
}

export interface StartReport {
  controlFiles: number;
  downloaded: number;
  largestBytes: number;
  totalBytes: number;
}

export class RemoteExtensions {
  readonly #counts = new Map<string, { labels: { http_status: string; filename: string }; n: number }>();
  #dirs: PgInstallDirs | null = null;
  #downloader: Promise<ExtensionDownloader> | null = null;
  readonly #log: Logger;

  constructor(private readonly opts: RemoteExtensionsOptions) {
    this.#log = opts.log.child({ component: "remote_extensions" });
  }

  /** The directories; resolved before the downloader exists, so always set when it asks. */
  dirs(): PgInstallDirs {
    if (!this.#dirs) throw new Error("Postgres install directories are not resolved yet");
    return this.#dirs;
  }

  async #resolveDirs(): Promise<PgInstallDirs> {
    if (this.#dirs) return this.#dirs;
    const { findPgInstallDirs } = await load.pgInstallDirs();
    this.#dirs = findPgInstallDirs(this.opts.pg);
    this.#log.info(this.#dirs, "Postgres install directories for remote extensions");
    return this.#dirs;
  }

  #getDownloader(): Promise<ExtensionDownloader> {
    this.#downloader ??= (async () => {
      await this.#resolveDirs();
      const { ExtensionDownloader } = await load.extensionDownloader();
      return new ExtensionDownloader({
        baseUrl: this.opts.baseUrl,
        dirs: () => this.dirs(),
        limits: this.opts.limits,
        log: this.#log,
        signal: this.opts.signal,
        count: (http_status, filename) => {
          const key = `${http_status}\0${filename}`;
          const entry = this.#counts.get(key);
          if (entry) entry.n++;
          else this.#counts.set(key, { labels: { http_status, filename }, n: 1 });
        },
      });
    })();
    return this.#downloader;
  }

  /** Downloads per (http_status, filename), for compute_ctl_remote_ext_requests_total. */
  requestCounts(): { labels: { http_status: string; filename: string }; n: number }[] {
    return [...this.#counts.values()];
  }

  /**
   * At start, before Postgres runs: removes staging left by a crash, writes the allowed
   * extensions' control files, and downloads the archives of libraries named in
   * shared_preload_libraries (failures there are logged: Postgres then names the missing file).
   */
  async prepareStart(spec: ComputeSpecJson): Promise<StartReport> {
    const report: StartReport = { controlFiles: 0, downloaded: 0, largestBytes: 0, totalBytes: 0 };
    const remote = spec.remote_extensions;
    if (!remote) return report;
    const dirs = await this.#resolveDirs();
    const [{ removeStaleStaging }, { writeControlFiles }, { preloadLibraries, resolveExtension }] =
      await Promise.all([load.archiveInstall(), load.controlFiles(), load.remoteExtLookup()]);
    removeStaleStaging(dirs);
    const control = writeControlFiles(remote, dirs);
    report.controlFiles = control.written.length;
    this.#log.info({ written: control.written, kept: control.kept }, "remote extension control files");
    const downloader = await this.#getDownloader();
    await Promise.all(
      preloadLibraries(spec).map(async (lib) => {
        let ext: ReturnType<typeof resolveExtension>;
        try {
          ext = resolveExtension(remote, lib, true);
        } catch {
          return; // not a remote library: the local installation has it, or Postgres says it does not
        }
        try {
          const r = await downloader.download(ext);
          if (r) {
            report.downloaded++;
            report.totalBytes += r.downloadedBytes;
            report.largestBytes = Math.max(report.largestBytes, r.downloadedBytes);
          }
        } catch (err) {
          this.#log.error(
            { library: lib, extension: ext.name, err },
            "could not download a preloaded library",
          );
        }
      }),
    );
    return report;
  }

  /** POST /extension_server/{filename}: OperationError kinds map to Neon's statuses. */
  async download(spec: ComputeSpecJson | null, filename: string, isLibrary: boolean): Promise<void> {
    const remote = spec?.remote_extensions;
    if (!remote) throw new OperationError("conflict", "information about remote extensions is unavailable");
    const { resolveExtension, UnknownExtensionError } = await load.remoteExtLookup();
    let ext: ReturnType<typeof resolveExtension>;
    try {
      ext = resolveExtension(remote, filename, isLibrary);
    } catch (err) {
      if (err instanceof UnknownExtensionError) throw new OperationError("not_found", err.message);
      throw err;
    }
    const downloader = await this.#getDownloader();
    try {
      await downloader.download(ext);
    } catch (err) {
      throw new OperationError(
        "internal",
        `error downloading extension ${JSON.stringify(ext.name)}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
}
