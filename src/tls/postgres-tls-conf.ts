// Postgres TLS, the pure part (loaded on every start, so without node:tls or node:crypto):
// whether a spec turns it on, and the postgresql.conf lines. The files are waited for, copied
// and followed by postgres-tls.ts.
import type { ComputeCtlConfig, ComputeSpecJson } from "../spec/types.js";
import type { CertificateFiles } from "./certificate-pair.js";

/** The copies' names in the data directory (Neon's, and Postgres's defaults). */
export const PG_SERVER_CRT = "server.crt";
export const PG_SERVER_KEY = "server.key";

export const TLS_FEATURE = "tls_experimental";

/** What Postgres's TLS is taken from, or null when it stays off for this spec. */
export function postgresTlsFiles(
  spec: Pick<ComputeSpecJson, "features">,
  launchConfig: ComputeCtlConfig,
): CertificateFiles | null {
  const tls = launchConfig.tls;
  if (tls == null || !spec.features.includes(TLS_FEATURE)) return null;
  return { certPath: tls.cert_path, keyPath: tls.key_path };
}

/** The postgresql.conf lines that turn TLS on with the copies. */
export function postgresTlsConfLines(): string[] {
  return ["ssl = on", `ssl_cert_file = '${PG_SERVER_CRT}'`, `ssl_key_file = '${PG_SERVER_KEY}'`];
}
