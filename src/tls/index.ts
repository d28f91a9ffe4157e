// TLS for the agent's TCP listeners and for Postgres: certificate files read, checked and
// followed through rotations, the TLS front of a listener, the expiry metric.
export {
  CertificateError,
  type CertificateFiles,
  type CertificatePair,
  checkCertificatePair,
  readPemInputs,
  readPemInputsSync,
} from "./certificate-pair.js";
export {
  CERTIFICATE_EXPIRY_METRIC,
  type CertificatesInUse,
  registerCertificateExpiry,
} from "./expiry-metric.js";
export { installPostgresCertificate, TlsFilesTimeoutError, waitForCertificatePair } from "./postgres-tls.js";
export {
  PG_SERVER_CRT,
  PG_SERVER_KEY,
  postgresTlsConfLines,
  postgresTlsFiles,
  TLS_FEATURE,
} from "./postgres-tls-conf.js";
export {
  type CertificateSubscriber,
  describeCertificate,
  ReloadingCertificate,
} from "./reloading-certificate.js";
export { type AlpnProtocol, createTlsFront, type TlsFront, type TlsFrontOptions } from "./tls-front.js";
