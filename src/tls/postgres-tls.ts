// Postgres's own TLS from `compute_ctl_config.tls` of the launch config, as Neon does it: with
// the spec feature `tls_experimental` (Neon's switch for it) Postgres gets `ssl = on` with copies
// of the files in its data directory, `server.crt` and `server.key`. Copies, because Postgres
// refuses a key file that others can read unless root owns it with at most 0640, and a mounted
// Secret is typically root:root 0644: the copies belong to the Postgres OS user, mode 0600.
//
// At start the files are waited for (they may be written after the agent starts; bounded by
// --pg-tls-wait-s) until they form a valid pair (certificate-pair.ts), so a half-written rotation
// is not taken. Afterwards a rotation of the files is copied in and Postgres reloads its
// configuration (SIGHUP), which makes new connections use the new certificate; a broken
// replacement is refused and the copies in use stay. The agent's own connections and the
// exporter's keep working: they do not ask for TLS (Unix socket or loopback, pg_hba allows both).
import { chownSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import type { OsUser } from "../postgres/os-user.js";
import {
  type CertificateFiles,
  type CertificatePair,
  checkCertificatePair,
  readPemInputs,
} from "./certificate-pair.js";
import { FileChangeTrigger } from "./file-change-trigger.js";
import { PG_SERVER_CRT, PG_SERVER_KEY } from "./postgres-tls-conf.js";
import { ReloadingCertificate } from "./reloading-certificate.js";

export class TlsFilesTimeoutError extends Error {
  override readonly name = "TlsFilesTimeoutError";
}

/**
 * Resolves with the pair once the files exist and form a valid pair (an expired certificate
 * included); rejects after `timeoutMs` with the last reason (missing file, key not matching)
 * or when `signal` aborts.
 * Looks again on every change in their directories and every 250 ms.
 */
export async function waitForCertificatePair(
  files: CertificateFiles,
  opts: { timeoutMs: number; signal?: AbortSignal; log: Logger },
): Promise<CertificatePair> {
  const started = Date.now();
  let lastProblem = "";
  let wake: (() => void) | null = null;
  const trigger = new FileChangeTrigger([files.certPath, files.keyPath], () => wake?.(), {
    intervalMs: 250,
    debounceMs: 20,
    log: opts.log,
  });
  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      try {
        // An expired certificate is installed (Postgres serves it, as Neon's does): logged when
        // followed, shown by the expiry metric, replaced by the next rotation.
        const pair = checkCertificatePair(files, await readPemInputs(files), { acceptExpired: true });
        if (lastProblem)
          opts.log.info({ waited_ms: Date.now() - started }, "Postgres TLS certificate files are ready");
        return pair;
      } catch (err) {
        const problem = (err as Error).message;
        if (problem !== lastProblem)
          opts.log.info({ problem }, "waiting for Postgres's TLS certificate files");
        lastProblem = problem;
      }
      const left = started + opts.timeoutMs - Date.now();
      if (left <= 0)
        throw new TlsFilesTimeoutError(
          `compute_ctl_config.tls: no valid certificate and key after ${Math.round(opts.timeoutMs / 1000)} s (--pg-tls-wait-s): ${lastProblem}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        const onAbort = () => resolve();
        opts.signal?.addEventListener("abort", onAbort, { once: true });
        wake = () => {
          clearTimeout(t);
          opts.signal?.removeEventListener("abort", onAbort);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    trigger.close();
  }
}

function writeAtomically(file: string, content: Buffer, osUser: OsUser | null): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  if (osUser) chownSync(tmp, osUser.uid, osUser.gid);
  renameSync(tmp, file);
}

/**
 * Puts the pair into the data directory as server.crt / server.key (0600, the Postgres user's),
 * each file replaced atomically; Postgres reads them at start and on the reload that follows.
 */
export function installPostgresCertificate(
  pair: CertificatePair,
  pgdata: string,
  osUser: OsUser | null,
): void {
  writeAtomically(path.join(pgdata, PG_SERVER_KEY), pair.key, osUser);
  writeAtomically(path.join(pgdata, PG_SERVER_CRT), pair.cert, osUser);
}

export interface FollowPostgresCertificateOptions {
  /** The pair installed at start. */
  initial: CertificatePair;
  pgdata: string;
  osUser: OsUser | null;
  log: Logger;
  /** Makes Postgres reload its configuration (SIGHUP to the postmaster). */
  reload: () => void;
  /** Periodic re-read besides change notifications (default 60 s). */
  intervalMs?: number;
}

/**
 * Follows the files after the start: each valid replacement is copied in and Postgres reloads;
 * new connections get the new certificate, open ones keep theirs.
 */
export function followPostgresCertificate(opts: FollowPostgresCertificateOptions): ReloadingCertificate {
  const certificate = new ReloadingCertificate({ files: opts.initial.files, initial: opts.initial });
  certificate.subscribe((next) => {
    installPostgresCertificate(next, opts.pgdata, opts.osUser);
    opts.reload();
  });
  return certificate.follow({ log: opts.log, intervalMs: opts.intervalMs });
}
