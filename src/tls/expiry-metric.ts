// compute_ctl_tls_certificate_expiry_seconds{listener}: when the certificate each TLS listener
// presents right now expires, read at scrape time so a rotation shows at once. The value is the
// certificate's notAfter as a Unix time in seconds, as Prometheus prefers for "when" values
// (cert-manager's certmanager_certificate_expiration_timestamp_seconds, blackbox_exporter's
// probe_ssl_earliest_cert_expiry): it does not change while time passes, and an alert is
// `compute_ctl_tls_certificate_expiry_seconds - time() < 14 * 86400`.
import { Gauge, type Registry } from "../metrics/metric-registry.js";
import type { CertificatePair } from "./certificate-pair.js";

export const CERTIFICATE_EXPIRY_METRIC = "compute_ctl_tls_certificate_expiry_seconds";

/** A listener's name (`grpc`, `external_http`, `postgres`) and the certificate it presents now. */
export type CertificatesInUse = () => Iterable<{ listener: string; current: CertificatePair }>;

export function registerCertificateExpiry(registry: Registry, inUse: CertificatesInUse): void {
  const gauge = new Gauge({
    name: CERTIFICATE_EXPIRY_METRIC,
    help: "Unix time (seconds) when the TLS certificate a listener presents expires (its notAfter)",
    labelNames: ["listener"] as const,
    registers: [registry],
  });
  gauge.collect = () => {
    gauge.reset();
    for (const { listener, current } of inUse())
      gauge.set({ listener }, Math.floor(current.notAfter.getTime() / 1000));
  };
}
