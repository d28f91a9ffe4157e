// Process entry point of compute_ctl: parse flags, run the agent, exit with its code.
import { readFileSync } from "node:fs";
import { runAgent } from "../agent/run-agent.js";
import { createLogger, maskSecrets } from "../log/logger.js";
import { HELP, parseCli, UsageError } from "./args.js";

function version(): string {
  const pkg = new URL("../../../package.json", import.meta.url);
  const fallback = new URL("../../package.json", import.meta.url);
  for (const u of [pkg, fallback]) {
    try {
      return JSON.parse(readFileSync(u, "utf8")).version;
    } catch {}
  }
  return "unknown";
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`compute_ctl: ${err.message}\nTry 'compute_ctl --help'.\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.kind === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (parsed.kind === "version") {
    process.stdout.write(`compute_ctl ${version()}\n`);
    return 0;
  }
  const log = createLogger({ format: parsed.options.logFormat });
  try {
    return await runAgent(parsed.options, log);
  } catch (err) {
    const msg = maskSecrets(err instanceof Error ? err.message : String(err));
    log.fatal({ error: msg }, "compute_ctl failed");
    process.stderr.write(`compute_ctl: ${msg}\n`);
    return 1;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
    // Anything still open (sockets, timers) must not keep a finished agent alive.
    setTimeout(() => process.exit(code), 100).unref();
  },
  (err) => {
    process.stderr.write(`compute_ctl: ${String(err)}\n`);
    process.exit(1);
  },
);
