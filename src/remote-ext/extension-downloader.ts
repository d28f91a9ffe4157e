// Downloads and installs remote extensions: `{base}/{archive_path}` over HTTP, unpacked by
// archive-install.ts. One download per extension however many requests ask at once (they share
// its outcome); a success is remembered, a failure is not (the next request tries again).
// Every download is counted in compute_ctl_remote_ext_requests_total{http_status, filename}
// with Neon's labels (`200 OK`, `unknown` when no answer came).
import path from "node:path";
import type { Logger } from "pino";
import { bodyText, HttpRequestError, request, statusLabel } from "../net/bounded-http.js";
import { type InstallLimits, type InstallReport, installArchive } from "./archive-install.js";
import type { PgInstallDirs } from "./pg-install-dirs.js";
import type { ExtensionArchive } from "./remote-ext-lookup.js";

export interface DownloaderOptions {
  baseUrl: URL;
  dirs(): PgInstallDirs;
  limits: InstallLimits;
  log: Logger;
  /** Called once per HTTP download with Neon's labels. */
  count(httpStatus: string, filename: string): void;
  signal: AbortSignal;
}

export class ExtensionDownloader {
  readonly #inflight = new Map<string, Promise<InstallReport>>();
  readonly #done = new Set<string>();

  constructor(private readonly opts: DownloaderOptions) {}

  /** The archive's URL: the base with a trailing slash, then the (validated, relative) path. */
  urlOf(archivePath: string): URL {
    const base = new URL(
      this.opts.baseUrl.href.endsWith("/") ? this.opts.baseUrl.href : `${this.opts.baseUrl.href}/`,
    );
    return new URL(archivePath, base);
  }

  isInstalled(name: string): boolean {
    return this.#done.has(name);
  }

  /** Resolves once the extension is installed (null when an earlier download did it). */
  async download(ext: ExtensionArchive): Promise<InstallReport | null> {
    if (this.#done.has(ext.name)) return null;
    let job = this.#inflight.get(ext.name);
    if (!job) {
      job = this.#fetch(ext).finally(() => this.#inflight.delete(ext.name));
      this.#inflight.set(ext.name, job);
      job.then(
        () => this.#done.add(ext.name),
        () => {},
      );
    } else {
      this.opts.log.info({ extension: ext.name }, "download already in progress: waiting for it");
    }
    return job;
  }

  async #fetch(ext: ExtensionArchive): Promise<InstallReport> {
    const url = this.urlOf(ext.archivePath);
    const filename = path.posix.basename(ext.archivePath);
    const log = this.opts.log.child({ extension: ext.name, url: url.href });
    const t0 = performance.now();
    log.info("downloading remote extension");
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, { method: "GET", signal: this.opts.signal });
    } catch (err) {
      this.opts.count("unknown", filename);
      throw new Error(`could not perform remote extensions server request: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.opts.count(statusLabel(res.status), filename);
    if (res.status !== 200) {
      const text = await bodyText(res);
      throw new HttpRequestError(
        res.status === 503
          ? "remote extensions server is temporarily unavailable"
          : `unexpected remote extensions server response status code: ${statusLabel(res.status)}${text ? `: ${text}` : ""}`,
        res.status,
      );
    }
    const report = await installArchive(res.body, this.opts.dirs(), this.opts.limits);
    log.info(
      {
        bytes: report.downloadedBytes,
        installed: report.installed.length,
        kept: report.kept,
        duration_ms: Math.round(performance.now() - t0),
      },
      "remote extension installed",
    );
    return report;
  }
}
