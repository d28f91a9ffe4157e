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
  httpHost: string;
  grpcPort: number;
  grpcSocket: string;
  privilegedRoleName: string;
  pgUser: string;
  dev: boolean;
  /** Seconds the API stays up after a fast termination or a startup failure. */
  exitGraceS: number;
  pgReadyTimeoutS: number;
  monitorIntervalMs: number;
  requireAuth: boolean;
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
}
