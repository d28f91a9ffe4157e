// A certificate and its private key as PEM files, read and checked before anything serves them:
// the certificate parses (with its chain), the key parses and belongs to the certificate, the
// certificate has not expired, OpenSSL accepts the pair, and an optional CA bundle (for client
// certificates) parses and has not expired. The same rules hold at start (a refusal stops the
// agent) and on rotation (a refusal keeps the pair in use), but for one: at start an expired
// certificate is taken (`acceptExpired`; its user logs it and the expiry metric shows it), since
// refusing it would stop the whole compute, Postgres included, over a certificate that clients
// not verifying it still accept and that the next rotation replaces; as a replacement it is
// refused, the pair in use being at least as good. Used for the agent's own listeners and for
// Postgres's certificate.
import { createHash, createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { createSecureContext } from "node:tls";

/** Where the PEM files are. */
export interface CertificateFiles {
  readonly certPath: string;
  readonly keyPath: string;
  /** CA bundle that signs the accepted client certificates (mTLS); null: no client certificates. */
  readonly clientCaPath?: string | null;
}

/** PEM bundles are a few KB; a file this large is not one. */
export const MAX_PEM_BYTES = 1024 * 1024;

export class CertificateError extends Error {
  override readonly name = "CertificateError";
}

export interface CertificatePair {
  readonly files: CertificateFiles;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | null;
  /** The first certificate of the cert file (the one the server presents). */
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly fingerprint256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** notAfter was past when the pair was checked (only with `acceptExpired`). */
  readonly expired: boolean;
  /** SHA-256 over the three files' bytes: tells a changed file from an unchanged one. */
  readonly digest: string;
}

interface PemInputs {
  cert: Buffer;
  key: Buffer;
  clientCa: Buffer | null;
}

/** SHA-256 over the files' bytes as read, whether or not they form a valid pair. */
export function inputsDigest(inputs: PemInputs): string {
  const h = createHash("sha256");
  for (const b of [inputs.cert, inputs.key, inputs.clientCa ?? Buffer.alloc(0)]) {
    h.update(String(b.length)).update(":").update(b);
  }
  return h.digest("hex");
}

function certificatesIn(pem: Buffer, file: string, what: string): X509Certificate[] {
  const blocks = pem
    .toString("latin1")
    .match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (!blocks)
    throw new CertificateError(`${what} ${file}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new CertificateError(
        `${what} ${file}: certificate #${i + 1} does not parse: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  });
}

function privateKeyIn(pem: Buffer, file: string): KeyObject {
  const text = pem.toString("latin1");
  // PKCS#8 encrypted, or the traditional OpenSSL encryption header.
  if (text.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.includes("Proc-Type: 4,ENCRYPTED")) {
    throw new CertificateError(
      `key file ${file}: the key is encrypted; give an unencrypted PEM key (protect it with file permissions)`,
    );
  }
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new CertificateError(
      `key file ${file}: it does not parse as a PEM private key: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

export interface CheckOptions {
  /** The clock (ms since the epoch); default now. */
  now?: number;
  /** An expired certificate passes (at start); an expired client CA is still refused. */
  acceptExpired?: boolean;
}

/** Checks PEM contents as read from `files` (pure apart from the clock); throws CertificateError. */
export function checkCertificatePair(
  files: CertificateFiles,
  inputs: PemInputs,
  opts: CheckOptions = {},
): CertificatePair {
  const now = opts.now ?? Date.now();
  const [leaf] = certificatesIn(inputs.cert, files.certPath, "certificate file");
  const key = privateKeyIn(inputs.key, files.keyPath);
  if (!leaf.checkPrivateKey(key)) {
    throw new CertificateError(
      `key file ${files.keyPath} does not belong to the certificate in ${files.certPath} (subject ${leaf.subject.replaceAll("\n", ", ")})`,
    );
  }
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now && !opts.acceptExpired) {
    throw new CertificateError(
      `certificate ${files.certPath} expired at ${notAfter.toISOString()} (subject ${leaf.subject.replaceAll("\n", ", ")})`,
    );
  }
  if (files.clientCaPath && inputs.clientCa) {
    const cas = certificatesIn(inputs.clientCa, files.clientCaPath, "client CA file");
    const expired = cas.find((c) => new Date(c.validTo).getTime() <= now);
    if (expired) {
      throw new CertificateError(
        `client CA file ${files.clientCaPath}: ${expired.subject.replaceAll("\n", ", ")} expired at ${new Date(expired.validTo).toISOString()}`,
      );
    }
  }
  try {
    createSecureContext(secureContextOptions(inputs));
  } catch (err) {
    throw new CertificateError(
      `OpenSSL refuses ${files.certPath} with ${files.keyPath}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return {
    files,
    cert: inputs.cert,
    key: inputs.key,
    clientCa: inputs.clientCa,
    subject: leaf.subject.replaceAll("\n", ", "),
    issuer: leaf.issuer.replaceAll("\n", ", "),
    serialNumber: leaf.serialNumber,
    fingerprint256: leaf.fingerprint256,
    notBefore,
    notAfter,
    expired: notAfter.getTime() <= now,
    digest: inputsDigest(inputs),
  };
}

/** What `tls.createSecureContext` / `server.setSecureContext` take for a pair. */
export function secureContextOptions(inputs: PemInputs): { cert: Buffer; key: Buffer; ca?: Buffer } {
  return inputs.clientCa ? { cert: inputs.cert, key: inputs.key, ca: inputs.clientCa } : inputs;
}

function tooLarge(file: string, bytes: number): CertificateError {
  return new CertificateError(`${file} is ${bytes} bytes; a PEM file here is at most ${MAX_PEM_BYTES}`);
}

function readError(file: string, err: unknown): CertificateError {
  return new CertificateError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
}

/**
 * Opened without blocking (a FIFO would wait for a writer forever) and looked at before it is
 * read: a regular file of at most MAX_PEM_BYTES (a device or a 10 GB file is not read at all).
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

function checkStat(file: string, st: Stats): void {
  if (!st.isFile()) throw new CertificateError(`${file} is not a regular file`);
  if (st.size > MAX_PEM_BYTES) throw tooLarge(file, st.size);
}

function readSync(file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, OPEN_FLAGS);
  } catch (err) {
    throw readError(file, err);
  }
  try {
    checkStat(file, fstatSync(fd));
    const b = readFileSync(fd);
    if (b.length > MAX_PEM_BYTES) throw tooLarge(file, b.length);
    return b;
  } catch (err) {
    throw err instanceof CertificateError ? err : readError(file, err);
  } finally {
    closeSync(fd);
  }
}

async function readAsync(file: string): Promise<Buffer> {
  let fh: FileHandle;
  try {
    fh = await open(file, OPEN_FLAGS);
  } catch (err) {
    throw readError(file, err);
  }
  try {
    checkStat(file, await fh.stat());
    const b = await fh.readFile();
    if (b.length > MAX_PEM_BYTES) throw tooLarge(file, b.length);
    return b;
  } catch (err) {
    throw err instanceof CertificateError ? err : readError(file, err);
  } finally {
    await fh.close();
  }
}

/** The files' bytes now (synchronous: used at start, before the listeners bind). */
export function readPemInputsSync(files: CertificateFiles): PemInputs {
  return {
    cert: readSync(files.certPath),
    key: readSync(files.keyPath),
    clientCa: files.clientCaPath ? readSync(files.clientCaPath) : null,
  };
}

export async function readPemInputs(files: CertificateFiles): Promise<PemInputs> {
  const [cert, key, clientCa] = await Promise.allSettled([
    readAsync(files.certPath),
    readAsync(files.keyPath),
    files.clientCaPath ? readAsync(files.clientCaPath) : null,
  ]);
  // The first problem in file order (certificate, key, CA), whichever read failed first.
  for (const r of [cert, key, clientCa]) if (r.status === "rejected") throw r.reason;
  const value = <T>(r: PromiseSettledResult<T>) => (r as PromiseFulfilledResult<T>).value;
  return { cert: value(cert), key: value(key), clientCa: value(clientCa) };
}
