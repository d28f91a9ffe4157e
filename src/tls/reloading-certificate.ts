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
}

export interface FollowOptions {
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
  #log: Logger | null = null;
  readonly #subscribers = new Set<CertificateSubscriber>();
  #trigger: FileChangeTrigger | null = null;
  #running: Promise<void> | null = null;
  #again = false;

  /** Serves `initial` until follow() starts watching the files (the agent binds before it logs). */
  constructor(opts: ReloadingCertificateOptions) {
    this.#files = opts.files;
    this.#current = opts.initial;
    this.#lastSeen = opts.initial.digest;
  }

  /** From now on the files are watched and re-read; `log` gets every replacement and refusal. */
  follow(opts: FollowOptions): this {
    this.#log = opts.log;
    const paths = [this.#files.certPath, this.#files.keyPath];
    if (this.#files.clientCaPath) paths.push(this.#files.clientCaPath);
    this.#trigger?.close();
    this.#trigger = new FileChangeTrigger(paths, () => void this.recheck(), {
      intervalMs: opts.intervalMs,
      debounceMs: opts.debounceMs,
      log: opts.log,
    });
    if (this.#current.expired)
      opts.log.error(
        describeCertificate(this.#current),
        "the TLS certificate in use has expired; clients that verify it refuse it until a rotation brings a valid one",
      );
    // What changed between the start's read and now.
    void this.recheck();
    return this;
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
    this.#trigger?.fire();
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
    this.#trigger?.close();
    this.#trigger = null;
    this.#subscribers.clear();
  }

  async #checkOnce(): Promise<void> {
    const log = this.#log;
    if (!log) return;
    let inputs: Awaited<ReturnType<typeof readPemInputs>>;
    try {
      inputs = await readPemInputs(this.#files);
    } catch (err) {
      // A file missing in the middle of a swap is normal; the next event reads it again.
      const key = `unreadable:${(err as Error).message}`;
      if (key !== this.#lastSeen) {
        this.#lastSeen = key;
        log.warn(
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
      log.error(
        { error: (err as Error).message, ...describeCertificate(this.#current) },
        "TLS certificate replacement refused; the certificate in use stays",
      );
      return;
    }
    const previous = this.#current;
    if (next.digest === previous.digest) {
      log.info(describeCertificate(next), "TLS certificate files are back to the pair in use");
      return;
    }
    this.#current = next;
    if (next.notBefore.getTime() > Date.now())
      log.warn(
        { not_before: next.notBefore.toISOString() },
        "the new TLS certificate is not valid yet (clock skew with its issuer?); clients may refuse it until then",
      );
    // A snapshot: a subscriber added while these run waits for the next replacement.
    for (const fn of [...this.#subscribers]) {
      try {
        await fn(next, previous);
      } catch (err) {
        log.error({ err }, "applying the new TLS certificate failed");
      }
    }
    log.info(
      { ...describeCertificate(next), previous_sha256: previous.fingerprint256 },
      "TLS certificate replaced",
    );
  }
}
