// TLS of the agent's own TCP listeners (external REST, gRPC/Connect TCP) from --tls-cert,
// --tls-key and --tls-client-ca: the pair is read and checked when the agent starts, before any
// port is bound (a refusal stops the agent with exit status 2), and then followed through
// rotations (reloading-certificate.ts). Loaded only when the flags are given.
import { type CertificateFiles, checkCertificatePair, readPemInputsSync } from "./certificate-pair.js";
import { ReloadingCertificate } from "./reloading-certificate.js";
import { createTlsFront, type TlsFront, type TlsFrontOptions } from "./tls-front.js";

/** The `listener` label values of the listeners that serve the --tls-cert pair. */
export const TLS_LISTENERS = ["external_http", "grpc"] as const;

export interface ListenerTls {
  readonly certificate: ReloadingCertificate;
  /** --tls-client-ca: every connection presents a client certificate that CA signed. */
  readonly requireClientCertificate: boolean;
  /** A TLS front for one listener with this certificate and client rule. */
  front(opts: Omit<TlsFrontOptions, "certificate" | "requireClientCertificate">): TlsFront;
}

export interface ListenerTlsFlags {
  tlsCertPath: string | null;
  tlsKeyPath: string | null;
  tlsClientCaPath: string | null;
}

/** The listeners' TLS, or null without --tls-cert; throws CertificateError for a refused pair. */
export function loadListenerTls(flags: ListenerTlsFlags): ListenerTls | null {
  if (!flags.tlsCertPath || !flags.tlsKeyPath) return null;
  const files: CertificateFiles = {
    certPath: flags.tlsCertPath,
    keyPath: flags.tlsKeyPath,
    clientCaPath: flags.tlsClientCaPath,
  };
  const certificate = new ReloadingCertificate({
    files,
    // Expired at start: served, logged when followed, shown by the expiry metric.
    initial: checkCertificatePair(files, readPemInputsSync(files), { acceptExpired: true }),
  });
  const requireClientCertificate = flags.tlsClientCaPath !== null;
  return {
    certificate,
    requireClientCertificate,
    front: (opts) => createTlsFront({ ...opts, certificate, requireClientCertificate }),
  };
}
