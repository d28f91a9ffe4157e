// Test certificates made with the openssl CLI: a CA, server certificates for localhost and
// 127.0.0.1 signed by it, client certificates, and broken ones (expired, a key of another
// certificate). EC P-256 keys: fast to make. Every file lands in the given directory.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface TestCa {
  name: string;
  certPath: string;
  keyPath: string;
  pem: Buffer;
}

export interface TestCertificate {
  certPath: string;
  keyPath: string;
  cert: Buffer;
  key: Buffer;
}

let serial = 1;

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function newKey(file: string, cwd: string): void {
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file], cwd);
}

/** A self-signed CA valid for `days` (default 30). */
export function makeCa(dir: string, name: string, days = 30): TestCa {
  mkdirSync(dir, { recursive: true });
  const keyPath = path.join(dir, `${name}.key`);
  const certPath = path.join(dir, `${name}.crt`);
  newKey(keyPath, dir);
  openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      keyPath,
      "-out",
      certPath,
      "-days",
      String(days),
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  return { name, certPath, keyPath, pem: readFileSync(certPath) };
}

export interface IssueOptions {
  /** File name stem; also the CN unless `cn` is given. */
  name: string;
  cn?: string;
  /** Server (default: DNS localhost and IP 127.0.0.1 as SANs) or client certificate. */
  usage?: "server" | "client";
  /** Validity in days from now; -1 makes it expired already. Default 10. */
  days?: number;
}

/** A certificate signed by `ca`, with its own new key. */
export function issueCertificate(ca: TestCa, dir: string, opts: IssueOptions): TestCertificate {
  mkdirSync(dir, { recursive: true });
  const keyPath = path.join(dir, `${opts.name}.key`);
  const certPath = path.join(dir, `${opts.name}.crt`);
  const csr = path.join(dir, `${opts.name}.csr`);
  const ext = path.join(dir, `${opts.name}.ext`);
  newKey(keyPath, dir);
  openssl(["req", "-new", "-key", keyPath, "-out", csr, "-subj", `/CN=${opts.cn ?? opts.name}`], dir);
  writeFileSync(
    ext,
    (opts.usage ?? "server") === "server"
      ? "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
      : "extendedKeyUsage=clientAuth\n",
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca.certPath,
      "-CAkey",
      ca.keyPath,
      "-set_serial",
      String(Date.now() * 1000 + serial++),
      "-out",
      certPath,
      "-days",
      String(opts.days ?? 10),
      "-extfile",
      ext,
    ],
    dir,
  );
  return { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
}

/** notAfter of a PEM certificate, from openssl (independent of the code under test). */
export function opensslNotAfter(certPath: string): Date {
  const out = execFileSync("openssl", ["x509", "-in", certPath, "-noout", "-enddate"], { encoding: "utf8" });
  return new Date(out.trim().replace(/^notAfter=/, ""));
}

/** SHA-256 fingerprint as Node prints it (AA:BB:...), from openssl. */
export function opensslFingerprint(certPath: string): string {
  const out = execFileSync("openssl", ["x509", "-in", certPath, "-noout", "-fingerprint", "-sha256"], {
    encoding: "utf8",
  });
  return out.trim().replace(/^sha256 Fingerprint=/i, "");
}
