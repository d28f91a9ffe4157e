// Entry of the metrics exporter process: `node main.js --pgdata DIR --connstr URL [options]`.
// Serves the autoscaling and Postgres metric sets on PGDATA/neon-communicator.socket. It is a
// process of its own so that whatever happens to it (a crash, a hang, memory growth) stays away
// from Postgres and the agent; the agent's supervisor restarts it. Exits when told to (SIGTERM,
// SIGINT) or when the supervising agent goes away (IPC channel closed).
import "../postgres/skip-undici.js";
import { createLogger } from "../log/logger.js";
import { type ExporterConfig, parseExporterFlags, USAGE } from "./exporter-flags.js";
import { type RunningExporter, runExporter } from "./run-exporter.js";

async function main(): Promise<void> {
  if (process.argv.includes("--help")) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  let config: ExporterConfig;
  try {
    config = parseExporterFlags(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const log = createLogger({ level: config.logLevel }).child({ component: "exporter" });
  let handle: RunningExporter;
  try {
    handle = await runExporter(config, log);
  } catch (err) {
    log.fatal({ err }, "metrics exporter failed to start");
    log.flush();
    process.exit(1);
  }
  const shutdown = (why: string) => {
    log.info({ why }, "metrics exporter stopping");
    const force = setTimeout(() => process.exit(0), 3000);
    force.unref();
    handle.stop().finally(() => {
      log.flush();
      process.exit(0);
    });
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  // Started by the agent with an IPC channel: when the agent dies, so do we.
  if (process.connected) process.once("disconnect", () => shutdown("agent gone"));
}

await main();
