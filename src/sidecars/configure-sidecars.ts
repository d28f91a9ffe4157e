// The processes Neon's compute_ctl configures beside Postgres: pgbouncer (pgbouncer_settings) and
// local_proxy (local_proxy_config). Applied in the background at every start and reconfiguration,
// one application after the other, as Neon does; a failure is logged, never a failed compute.
// On termination (not with --dev) both are stopped as Neon stops them: pgbouncer SIGKILL,
// local_proxy SIGTERM.
import type { Logger } from "pino";
import type { AgentOptions } from "../cli/options.js";
import type { ComputeSpecJson } from "../spec/types.js";
import { configureLocalProxy } from "./local-proxy.js";
import { processName, readPidFile } from "./pid-file.js";

export class SidecarConfigurator {
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: AgentOptions,
    private readonly log: Logger,
  ) {}

  /** Queues the spec's sidecar settings; resolves when they have been applied (never rejects). */
  apply(spec: ComputeSpecJson): Promise<void> {
    const run = () =>
      this.#run(spec).catch((err: unknown) => this.log.warn({ err }, "sidecar settings failed"));
    this.#queue = this.#queue.then(run);
    return this.#queue;
  }

  async #run(spec: ComputeSpecJson): Promise<void> {
    const log = this.log;
    if (spec.local_proxy_config != null) {
      try {
        const out = configureLocalProxy(spec.local_proxy_config, this.options.localProxyDir);
        log.info({ file: out.file, notified_pid: out.notified }, "local_proxy configured");
      } catch (err) {
        log.warn(
          { dir: this.options.localProxyDir, error: (err as Error).message },
          "local_proxy not configured",
        );
      }
    }
    if (spec.pgbouncer_settings != null && Object.keys(spec.pgbouncer_settings).length > 0) {
      const { applyPgbouncerSettings } = await import("./pgbouncer.js");
      await applyPgbouncerSettings(
        spec.pgbouncer_settings,
        {
          adminUrl: this.options.pgbouncerAdmin,
          password: process.env.PGBOUNCER_PASSWORD,
          iniPath: this.options.pgbouncerIni,
        },
        log,
      );
    }
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
