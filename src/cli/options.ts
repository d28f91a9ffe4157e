// The agent's configuration as parsed from the command line and environment.
import type { LogFormat } from "../log/logger.js";

export interface AgentOptions {
  pgdata: string;
  connstr: string;
  specPath: string | null;
  configPath: string | null;
  computeId: string | null;
  controlPlaneUri: string | null;
  pgbin: string | undefined;
  /** Where `pgbin` came from (null: not given, the binaries are looked up). */
  pgbinFrom: "--pgbin" | "POSTGRES_PATH" | null;
  externalHttpPort: number;
  internalHttpPort: number;
  /** External REST and gRPC TCP listeners. */
  httpHost: string;
  /** Internal REST listener (loopback by default). */
  internalHttpHost: string;
  grpcPort: number;
  grpcSocket: string;
  privilegedRoleName: string;
  pgUser: string;
  dev: boolean;
  /** Seconds the API stays up after a fast termination or a startup failure. */
  exitGraceS: number;
  /** Seconds a signal-initiated fast shutdown may take before Postgres gets SIGQUIT. */
  shutdownEscalationS: number;
  pgReadyTimeoutS: number;
  monitorIntervalMs: number;
  requireAuth: boolean;
  /**
   * Without JWT keys, serve the routes/RPCs that change the compute to non-loopback clients too
   * (otherwise they answer 403 there).
   */
  insecureNoAuth: boolean;
  /** Largest request body (REST) or message (gRPC/Connect), in bytes. */
  maxMessageBytes: number;
  /** Open connections allowed per listener. */
  maxConnections: number;
  /** `/ready` needs a successful query within this many seconds. */
  readyMaxAgeS: number;
  /**
   * `--tls-cert` / `--tls-key`: PEM files of the external REST and gRPC TCP listeners, which then
   * speak TLS only (null: plaintext). Re-read when they change.
   */
  tlsCertPath: string | null;
  tlsKeyPath: string | null;
  /** `--tls-client-ca`: CA bundle whose client certificates those listeners require (mTLS). */
  tlsClientCaPath: string | null;
  /** Seconds a start waits for compute_ctl_config.tls's files to form a valid pair. */
  pgTlsWaitS: number;
  /** Seconds between periodic re-reads of every certificate file (besides notifications, SIGHUP). */
  tlsRecheckS: number;
  logFormat: LogFormat;
  cacheDir: string | null;
  /** The agent's private runtime files (the archive source's pgBackRest config, locks, spool). */
  runtimeDir: string;
  vmMonitorAddr: string;
  cgroup: string;
  autoscaling: boolean;
  autoscalingMetricsAllow: string | null;
  autoscalingMetricsRate: string | null;
  exporter: boolean;
  /** `-r`: base URL of the remote extensions server; null: remote extensions off. */
  remoteExtBaseUrl: string | null;
  /** Largest extension archive, compressed and unpacked (bytes). */
  remoteExtMaxBytes: number;
  /** `--filecache-connstr`: the vm-monitor's connection (null: `connstr`). */
  filecacheConnstr: string | null;
  /** `--installed-extensions-collection-interval` (s); a spec's suspend_timeout_seconds > 0 wins. */
  installedExtensionsIntervalS: number;
  /** `--pg-init-timeout` (s): a start must reach running within it (null: no bound). */
  pgInitTimeoutS: number | null;
  /** Neon flags accepted for compatibility; their NeonVM/Databricks effects do not apply here. */
  resizeSwapOnBind: boolean;
  setDiskQuotaForFs: string | null;
  lakebaseMode: boolean;
  /** pgbouncer's admin console URL (password from $PGBOUNCER_PASSWORD) and ini file. */
  pgbouncerAdmin: string;
  pgbouncerIni: string;
  pgbouncerPidFile: string;
  /** Directory of local_proxy's config.json and pid file. */
  localProxyDir: string;
}
