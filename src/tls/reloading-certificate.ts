// A certificate pair that follows its files: when they change (directory watch, periodic
// re-check, SIGHUP) the new content is read and checked (certificate-pair.ts) and, if it passes,
// handed to every subscriber (a TLS server's setSecureContext, Postgres's copy of its files);
// connections already open keep the certificate they were made with. A new content that fails
// the check is logged once and refused: the pair in use stays, and the next change is read
// again (a rotation that writes the certificate before the key passes on its second write).
import type { Logger } from "pino";
import {
  type CertificateFiles,
  type CertificatePair,
  checkCertificatePair,
  inputsDigest,
  readPemInputs,
} from "./certificate-pair.js";
import { FileChangeTrigger } from "./file-change-trigger.js";

export interface ReloadingCertificateOptions {
  files: CertificateFiles;
  /** The pair read and checked at start. */
  initial: CertificatePair;
  log: Logger;
  /** Periodic re-check (default 60 s). */
  intervalMs?: number;
  /** Debounce of directory events (default 200 ms). */
  debounceMs?: number;
}

export type CertificateSubscriber = (
  next: CertificatePair,
  previous: CertificatePair,
) => void | Promise<void>;

/** The fields a log line names a certificate by (never the key). */
export function describeCertificate(pair: CertificatePair): Record<string, string> {
  return {
    subject: pair.subject,
    issuer: pair.issuer,
    serial: pair.serialNumber,
    not_after: pair.notAfter.toISOString(),
    sha256: pair.fingerprint256,
  };
}

export class ReloadingCertificate {
  #current: CertificatePair;
  /** Digest of the last content examined, valid or not: the same content is not checked twice. */
  #lastSeen: string;
  readonly #files: CertificateFiles;
  readonly #log: Logger;
  readonly #subscribers = new Set<CertificateSubscriber>();
  readonly #trigger: FileChangeTrigger;
  #running: Promise<void> | null = null;
  #again = false;

  constructor(opts: ReloadingCertificateOptions) {
    this.#files = opts.files;
    this.#current = opts.initial;
    this.#lastSeen = opts.initial.digest;
    this.#log = opts.log;
    const paths = [opts.files.certPath, opts.files.keyPath];
    if (opts.files.clientCaPath) paths.push(opts.files.clientCaPath);
    this.#trigger = new FileChangeTrigger(paths, () => void this.recheck(), {
      intervalMs: opts.intervalMs,
      debounceMs: opts.debounceMs,
      log: opts.log,
    });
  }

  get current(): CertificatePair {
    return this.#current;
  }

  /** Called with each accepted replacement, in order; returns the unsubscribe function. */
  subscribe(fn: CertificateSubscriber): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  /** Reads the files again soon (debounced): for SIGHUP. */
  poke(): void {
    this.#trigger.fire();
  }

  /** Reads the files now; resolves when the new content is applied, refused or unchanged. */
  recheck(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#checkOnce();
      } while (this.#again);
    })().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  close(): void {
    this.#trigger.close();
    this.#subscribers.clear();
  }

  async #checkOnce(): Promise<void> {
    let inputs: Awaited<ReturnType<typeof readPemInputs>>;
    try {
      inputs = await readPemInputs(this.#files);
    } catch (err) {
      // A file missing in the middle of a swap is normal; the next event reads it again.
      const key = `unreadable:${(err as Error).message}`;
      if (key !== this.#lastSeen) {
        this.#lastSeen = key;
        this.#log.warn(
          { error: (err as Error).message, ...describeCertificate(this.#current) },
          "TLS certificate files unreadable; the certificate in use stays",
        );
      }
      return;
    }
    const digest = inputsDigest(inputs);
    if (digest === this.#lastSeen) return;
    this.#lastSeen = digest;
    let next: CertificatePair;
    try {
      next = checkCertificatePair(this.#files, inputs);
    } catch (err) {
      this.#log.error(
        { error: (err as Error).message, ...describeCertificate(this.#current) },
        "TLS certificate replacement refused; the certificate in use stays",
      );
      return;
    }
    const previous = this.#current;
    this.#current = next;
    if (next.notBefore.getTime() > Date.now())
      this.#log.warn(
        { not_before: next.notBefore.toISOString() },
        "the new TLS certificate is not valid yet (clock skew with its issuer?); clients may refuse it until then",
      );
    for (const fn of this.#subscribers) {
      try {
        await fn(next, previous);
      } catch (err) {
        this.#log.error({ err }, "applying the new TLS certificate failed");
      }
    }
    this.#log.info(
      { ...describeCertificate(next), previous_sha256: previous.fingerprint256 },
      "TLS certificate replaced",
    );
  }
}
