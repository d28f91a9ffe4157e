// Wires the exporter's parts together: one connection, the buffer sampler, the collector, the
// answers and the HTTP server on the PGDATA socket; `stop()` takes them down in reverse and
// removes the socket.
import { BufferSampler } from "./buffer-sampler.js";
import { type DataDirSocket, listenInDataDir } from "./data-dir-socket.js";
import { type Answer, exporterAnswers } from "./exporter-answers.js";
import type { ExporterConfig } from "./exporter-config.js";
import { ExporterConnection } from "./exporter-connection.js";
import { createExporterServer } from "./exporter-server.js";
import { loadHll, saveHll } from "./hll-state-file.js";
import { MetricsCollector } from "./metrics-collector.js";
import type { ExporterLog } from "./thread-log.js";

export interface RunningExporter {
  socketPath: string;
  /** The same answers the socket serves, as families. */
  answer: Answer;
  stop(): Promise<void>;
}

const STATE_SAVE_MS = 60_000;

export async function runExporter(config: ExporterConfig, log: ExporterLog): Promise<RunningExporter> {
  const queryTimeoutMs = config.statementTimeoutMs + 1000;
  const conn = new ExporterConnection({
    connstr: config.connstr,
    statementTimeoutMs: config.statementTimeoutMs,
    lockTimeoutMs: config.lockTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    log,
  });
  const sampler = new BufferSampler({
    conn,
    log,
    periodMs: config.wssSampleMs,
    quietPeriodMs: config.wssQuietSampleMs,
    queryTimeoutMs,
  });
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
  const answer = exporterAnswers({
    collector,
    sampler,
    conn,
    deadlineMs: config.scrapeDeadlineMs,
    ttlMs: config.ttlMs,
  });
  const server = createExporterServer(answer, log, { testHooks: config.testHooks });
  let socket: DataDirSocket;
  try {
    socket = await listenInDataDir(server, config.pgdata, config.socketOwner);
  } catch (err) {
    await conn.close();
    throw err;
  }
  collector.start();
  const save = () => {
    if (!config.stateFile) return;
    try {
      saveHll(sampler.hll, config.stateFile, config.socketOwner);
    } catch (err) {
      log.warn({ err }, "cannot save the working-set estimator");
    }
  };
  const saver = config.stateFile ? setInterval(save, STATE_SAVE_MS).unref() : null;
  log.info({ socket: socket.path }, "metrics exporter listening");

  let stopping: Promise<void> | null = null;
  return {
    socketPath: socket.path,
    answer,
    stop() {
      stopping ??= (async () => {
        if (saver) clearInterval(saver);
        collector.stop();
        save();
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
        socket.remove();
        await conn.close();
      })();
      return stopping;
    },
  };
}
