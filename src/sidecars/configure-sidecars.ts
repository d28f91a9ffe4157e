// The processes Neon's compute_ctl configures beside Postgres: pgbouncer (pgbouncer_settings) and
// local_proxy (local_proxy_config). Applied in the background at every start and reconfiguration,
// one application after the other, as Neon does; a failure is logged, never a failed compute.
// On termination (not with --dev) both are stopped as Neon stops them: pgbouncer SIGKILL,
// local_proxy SIGTERM. With Postgres TLS on (compute_ctl_config.tls + tls_experimental) both get
// the certificate files as in Neon: local_proxy's `tls`, and pgbouncer's client_tls_* settings
// once the key file exists.
import { existsSync } from "node:fs";
import type { Logger } from "pino";
import type { AgentOptions } from "../cli/options.js";
import * as load from "../loading/modules.js";
import type { ComputeSpecJson } from "../spec/types.js";
import type { CertificateFiles } from "../tls/certificate-pair.js";
import { configureLocalProxy } from "./local-proxy.js";
import { processName, readPidFile } from "./pid-file.js";

export class SidecarConfigurator {
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: AgentOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Queues the spec's sidecar settings; resolves when they have been applied (never rejects).
   * `tls`: Postgres's certificate files when its TLS is on for this spec.
   */
  apply(spec: ComputeSpecJson, tls: CertificateFiles | null = null): Promise<void> {
    const run = () =>
      this.#run(spec, tls).catch((err: unknown) => this.log.warn({ err }, "sidecar settings failed"));
    this.#queue = this.#queue.then(run);
    return this.#queue;
  }

  async #run(spec: ComputeSpecJson, tls: CertificateFiles | null): Promise<void> {
    const log = this.log;
    if (spec.local_proxy_config != null) {
      try {
        // Neon sets local_proxy's TLS files to compute_ctl_config.tls's.
        const config = tls
          ? { ...spec.local_proxy_config, tls: { key_path: tls.keyPath, cert_path: tls.certPath } }
          : spec.local_proxy_config;
        const out = configureLocalProxy(config, this.options.localProxyDir);
        log.info({ file: out.file, notified_pid: out.notified }, "local_proxy configured");
      } catch (err) {
        log.warn(
          { dir: this.options.localProxyDir, error: (err as Error).message },
          "local_proxy not configured",
        );
      }
    }
    if (spec.pgbouncer_settings != null && Object.keys(spec.pgbouncer_settings).length > 0) {
      const { applyPgbouncerSettings } = await load.pgbouncer();
      let settings: Record<string, string> = spec.pgbouncer_settings;
      // As Neon: pgbouncer without its key file would refuse TLS clients, so wait for it.
      if (tls && (await this.#keyFileAppears(tls.keyPath))) {
        settings = {
          ...settings,
          client_tls_cert_file: tls.certPath,
          client_tls_key_file: tls.keyPath,
          client_tls_sslmode: "allow",
        };
      }
      await applyPgbouncerSettings(
        settings,
        {
          adminUrl: this.options.pgbouncerAdmin,
          password: process.env.PGBOUNCER_PASSWORD,
          iniPath: this.options.pgbouncerIni,
        },
        log,
      );
    }
  }

  /** Polls for the key file for up to --pg-tls-wait-s (Neon waits without a bound). */
  async #keyFileAppears(keyPath: string): Promise<boolean> {
    const end = Date.now() + this.options.pgTlsWaitS * 1000;
    while (!existsSync(keyPath)) {
      if (Date.now() >= end) {
        this.log.warn(
          { key_path: keyPath, waited_s: this.options.pgTlsWaitS },
          "pgbouncer gets no TLS settings: compute_ctl_config.tls's key file did not appear",
        );
        return false;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    return true;
  }
}

/** Stops pgbouncer and local_proxy on termination, unless --dev (Neon's forward_termination_signal). */
export function stopSidecars(options: AgentOptions, log: Logger): void {
  if (options.dev) {
    log.info("--dev: leaving pgbouncer and local_proxy running");
    return;
  }
  try {
    const pgb = readPidFile(options.pgbouncerPidFile);
    // pgbouncer does not lock its pid file; the pid must still be a pgbouncer (a stale file's pid
    // may have been reused by something else).
    if (pgb.state !== "missing" && pgb.pid !== null && processName(pgb.pid) === "pgbouncer") {
      process.kill(pgb.pid, "SIGKILL");
      log.info({ pid: pgb.pid }, "sent SIGKILL to pgbouncer");
    }
  } catch (err) {
    log.warn({ error: (err as Error).message }, "could not stop pgbouncer");
  }
  try {
    const lp = readPidFile(`${options.localProxyDir}/pid`);
    if (lp.state === "locked" && lp.pid !== null) {
      process.kill(lp.pid, "SIGTERM");
      log.info({ pid: lp.pid }, "sent SIGTERM to local_proxy");
    }
  } catch (err) {
    log.warn({ error: (err as Error).message }, "could not stop local_proxy");
  }
}
