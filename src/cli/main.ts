// Process entry point of compute_ctl: parse flags, start the head start, bind the REST ports,
// then load and run the agent, and exit with its code. Before the head start only the flag
// parser, the -D guard and the head start's own modules (child_process, crypto) are loaded: a
// launch with an initdb spec file starts filling its data directory first, since that copy is
// the longest path to `running` (bench/cold-start-profile.ts). node:http and the listeners come
// next (the ports are bound a few ms later than they could be); the agent itself (most of the
// module loading) comes after. The first answered /healthz waits for the loaded agent either way.
import "../loading/skip-undici.js";
import * as load from "../loading/modules.js";
import { type HeadStart, startHeadStart } from "../startup/head-start.js";
import { checkPgdata, PgdataRefusedError } from "../startup/pgdata-guard.js";
import { HELP, parseCli, UsageError, usageErrorText } from "./args.js";
import type { AgentOptions } from "./options.js";

/** The --help line naming the Postgres binaries a launch with these flags and this environment uses. */
async function binariesInUse(): Promise<string> {
  const [{ describeBinaries, resolvePgBinaries }, { installRoot }] = await Promise.all([
    load.pgBinaries(),
    load.installRoot(),
  ]);
  const pgbin = process.env.POSTGRES_PATH || undefined;
  try {
    const pg = resolvePgBinaries({ pgbin, pgbinFrom: "POSTGRES_PATH", npmFrom: installRoot() });
    return `Postgres binaries: ${describeBinaries(pg)}`;
  } catch (err) {
    return `Postgres binaries: none found (${(err as Error).message})`;
  }
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(usageErrorText(err.message));
      return 2;
    }
    throw err;
  }
  if (parsed.kind === "help") {
    process.stdout.write(`${HELP}\n${await binariesInUse()}\n`);
    return 0;
  }
  if (parsed.kind === "version") {
    const { agentVersion } = await load.installRoot();
    process.stdout.write(`compute_ctl ${agentVersion()}\n`);
    return 0;
  }
  // Before any listener binds or anything is written: -D must be a directory the agent may wipe.
  try {
    checkPgdata(parsed.options.pgdata, parsed.options);
  } catch (err) {
    if (err instanceof PgdataRefusedError) {
      process.stderr.write(`compute_ctl: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  // --tls-cert: the pair is checked before any port is bound (node:tls only when it is given).
  let tls: import("../tls/listener-tls.js").ListenerTls | null = null;
  if (parsed.options.tlsCertPath) {
    const [{ loadListenerTls }, { CertificateError }] = await Promise.all([
      load.listenerTls(),
      load.certificatePair(),
    ]);
    try {
      tls = loadListenerTls(parsed.options);
    } catch (err) {
      if (err instanceof CertificateError) {
        process.stderr.write(`compute_ctl: --tls-cert/--tls-key/--tls-client-ca: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
  }
  // The template copy of an initdb spec runs while the rest of the agent loads (head-start.ts).
  // It is spawned in the microtasks that run while the listener's module loads.
  const headStart = startHeadStart(parsed.options);
  try {
    return await loadAndRun(parsed.options, tls, headStart);
  } finally {
    // A launch that failed before its start (a spec that fails validation, a port in use, a
    // module that would not load) leaves no head start behind.
    await headStart?.staging.close();
  }
}

/** Binds the ports, loads the agent and runs it: the exit code. */
async function loadAndRun(
  options: AgentOptions,
  tls: import("../tls/listener-tls.js").ListenerTls | null,
  headStart: HeadStart | null,
): Promise<number> {
  const { listenEarly } = await load.earlyListener();
  const early = listenEarly(options, tls);
  const [{ runAgent }, { maskSecrets, openLogger }] = await Promise.all([load.agent(), load.logger()]);
  const log = await openLogger({ format: options.logFormat });
  headStart?.attach(log);
  tls?.certificate.follow({
    log: log.child({ component: "tls" }),
    intervalMs: options.tlsRecheckS * 1000,
  });
  try {
    return await runAgent(options, log, early, headStart);
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
