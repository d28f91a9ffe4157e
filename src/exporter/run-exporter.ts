// Wires the exporter's parts together: one connection, the buffer sampler, the collector and the
// HTTP server on the PGDATA socket; `stop()` takes them down in reverse and removes the socket.
import { unlinkSync } from "node:fs";
import type { Server } from "node:http";
import type { Logger } from "pino";
import { BufferSampler } from "./buffer-sampler.js";
import { ExporterConnection } from "./exporter-connection.js";
import type { ExporterConfig } from "./exporter-flags.js";
import { createExporterServer, listenInDataDir } from "./exporter-server.js";
import { loadHll, saveHll } from "./hll-state-file.js";
import { MetricsCollector } from "./metrics-collector.js";
import { SOCKET_NAME } from "./socket-address.js";

export interface RunningExporter {
  socketPath: string;
  stop(): Promise<void>;
}

const STATE_SAVE_MS = 60_000;

export async function runExporter(config: ExporterConfig, log: Logger): Promise<RunningExporter> {
  const queryTimeoutMs = config.statementTimeoutMs + 1000;
  const conn = new ExporterConnection({
    connstr: config.connstr,
    statementTimeoutMs: config.statementTimeoutMs,
    lockTimeoutMs: config.lockTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    log,
  });
  const sampler = new BufferSampler({ conn, log, periodMs: config.wssSampleMs, queryTimeoutMs });
  if (config.stateFile && loadHll(sampler.hll, config.stateFile))
    log.info("restored the working-set estimator");
  const collector = new MetricsCollector({
    conn,
    sampler,
    log,
    ttlMs: config.ttlMs,
    queryTimeoutMs,
    sourceRecheckMs: config.sourceRecheckMs,
  });
  const server: Server = createExporterServer({
    collector,
    sampler,
    conn,
    deadlineMs: config.scrapeDeadlineMs,
    ttlMs: config.ttlMs,
    log,
  });
  const socketPath = await listenInDataDir(server, config.pgdata);
  collector.start();
  const save = () => {
    if (!config.stateFile) return;
    try {
      saveHll(sampler.hll, config.stateFile);
    } catch (err) {
      log.warn({ err }, "cannot save the working-set estimator");
    }
  };
  const saver = config.stateFile ? setInterval(save, STATE_SAVE_MS).unref() : null;
  log.info({ socket: socketPath }, "metrics exporter listening");

  let stopping: Promise<void> | null = null;
  return {
    socketPath,
    stop() {
      stopping ??= (async () => {
        if (saver) clearInterval(saver);
        collector.stop();
        save();
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
        try {
          unlinkSync(SOCKET_NAME); // relative: the process lives in PGDATA
        } catch {
          // already gone
        }
        await conn.close();
      })();
      return stopping;
    },
  };
}
