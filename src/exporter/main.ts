// Entry of the metrics exporter's thread, started by the agent (src/exporter-host/) as a worker
// thread with its own event loop and heap limits: whatever happens here (a hang, a crash, memory
// growth) stays away from the agent's event loop, and the agent restarts it. It serves the
// autoscaling and Postgres metric sets on PGDATA/neon-communicator.socket and answers the agent's
// reads (thread-protocol.ts) from the same collections.
import "../loading/skip-undici.js";
import { writeFileSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { type ExporterConfig, type ExporterSettings, exporterConfig } from "./exporter-config.js";
import { type RunningExporter, runExporter } from "./run-exporter.js";
import { threadLog } from "./thread-log.js";
import { EXPORTER_THREAD_NAME, type ExporterMessage, type HostMessage } from "./thread-protocol.js";

function nameThisThread(): void {
  try {
    // A synchronous write runs on the calling thread, which is what thread-self names.
    writeFileSync("/proc/thread-self/comm", EXPORTER_THREAD_NAME);
  } catch {
    // Not Linux, or /proc not mounted: the thread keeps its inherited name.
  }
}

async function main(): Promise<void> {
  nameThisThread();
  const port = parentPort;
  if (!port) throw new Error("the metrics exporter runs as a worker thread of compute_ctl");
  const post = (m: ExporterMessage) => port.postMessage(m);
  const settings = workerData as ExporterSettings;
  const log = threadLog(port, settings.logLevel ?? "info");
  let exporter: RunningExporter | null = null;
  let stopping = false;
  // Answered from the start, so the agent's watchdog sees a thread that is loading as alive.
  port.on("message", (m: HostMessage) => {
    if (m.kind === "ping") post({ kind: "pong", id: m.id });
    else if (m.kind === "read") {
      if (!exporter) {
        post({ kind: "reply", id: m.id, reply: { status: 503, error: "the metrics exporter is starting" } });
        return;
      }
      exporter.answer(m.what).then(
        (reply) => post({ kind: "reply", id: m.id, reply }),
        (err: unknown) => post({ kind: "reply", id: m.id, reply: { status: 500, error: String(err) } }),
      );
    } else if (m.kind === "stop" && !stopping) {
      stopping = true;
      log.info("metrics exporter stopping");
      void (exporter?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
    }
  });
  let config: ExporterConfig;
  try {
    config = exporterConfig(settings);
    exporter = await runExporter(config, log);
  } catch (err) {
    log.fatal({ err }, "metrics exporter failed to start");
    process.exit(1);
  }
  post({ kind: "listening", socketPath: exporter.socketPath });
}

await main();
