// The composition root: loads the launch config, builds the runtime, starts the compute, then
// loads and starts the API servers and the background services (agent-services.ts), and returns
// the process exit code.

import type { Logger } from "pino";
import type { EarlyListeners } from "../api/rest/early-listener.js";
import { loadLaunchConfig } from "../cli/config-source.js";
import { installRoot } from "../cli/install-root.js";
import { notApplicableFlags } from "../cli/neon-flag-notes.js";
import type { AgentOptions } from "../cli/options.js";
import { ComputeRuntime, specAgentContext } from "../compute/compute-runtime.js";
import { releaseSource } from "../compute/source-hooks.js";
import { startCompute } from "../compute/start-compute.js";
import { agentSources } from "../loading/agent-sources.js";
import { loadAhead } from "../loading/load-ahead.js";
import * as load from "../loading/modules.js";
import { describeBinaries, type PgBinaries, resolvePgBinaries } from "../postgres/binaries.js";
import { type OsUser, postgresOsUser, whyUnreachable } from "../postgres/os-user.js";
import type { RemoteExtensions } from "../remote-ext/remote-extensions.js";
import type { HeadStart } from "../startup/head-start.js";
import { templateKey } from "../startup/sources/initdb.js";
import { TemplateStaging } from "../startup/sources/template-staging.js";
import { logProgress } from "../state/progress-log.js";
import { installSignalHandlers } from "./signals.js";

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** The data directory staged from the template while no spec is there (null: no template cache). */
function templateStaging(
  options: AgentOptions,
  pg: PgBinaries,
  osUser: OsUser | null,
  log: Logger,
): TemplateStaging | null {
  if (options.cacheDir === null) return null;
  return new TemplateStaging({
    pgdata: options.pgdata,
    cacheDir: options.cacheDir,
    guard: options,
    osUser,
    log: log.child({ component: "staging" }),
    templateKey: () => templateKey({ connstr: options.connstr, osUser, pg }),
  });
}
/** Remote extensions (`-r`), loaded only when configured. */
async function remoteExtensions(
  options: AgentOptions,
  pg: PgBinaries,
  log: Logger,
  signal: AbortSignal,
): Promise<RemoteExtensions | null> {
  if (!options.remoteExtBaseUrl) return null;
  const { RemoteExtensions } = await load.remoteExtensions();
  return new RemoteExtensions({
    baseUrl: new URL(options.remoteExtBaseUrl),
    pg,
    limits: { maxBytes: options.remoteExtMaxBytes, maxEntries: 100_000 },
    log,
    signal,
  });
}

/** A Postgres still up as the agent exits (a failed start's) goes down the same shutdown ladder. */
async function stopPostmasterBeforeExit(rt: ComputeRuntime): Promise<void> {
  const pm = rt.postmaster;
  if (!pm?.running) return;
  rt.log.info("stopping Postgres before exit");
  await pm.shutdown("fast");
}

export async function runAgent(
  options: AgentOptions,
  log: Logger,
  early?: EarlyListeners,
  /** The template copy a launch began before loading (cli/main.ts); it replaces the staging. */
  headStart?: HeadStart | null,
): Promise<number> {
  // Control-plane attempts are counted once the metrics exist (after the start has begun).
  const controlPlaneAttempts: string[] = [];
  for (const note of notApplicableFlags(options))
    log.warn({ flag: note.flag, neon: note.neon, here: note.here }, `${note.flag}: not applicable here`);
  const launch = await loadLaunchConfig(
    options,
    log,
    (status) => controlPlaneAttempts.push(status),
    specAgentContext(options),
  );
  const pg = resolvePgBinaries({
    pgbin: options.pgbin,
    pgbinFrom: options.pgbinFrom ?? undefined,
    npmFrom: installRoot(),
  });
  log.info({ postgres: pg.postgres, source: pg.source }, `Postgres binaries: ${describeBinaries(pg)}`);
  const osUser = postgresOsUser(options.pgUser);
  // As root, Postgres runs as --pg-user: binaries under a private directory (/root, say) would
  // fail later with nothing but "exit undefined" from initdb.
  const why = osUser ? whyUnreachable(osUser, pg.postgres) : null;
  if (why) throw new Error(`--pg-user ${options.pgUser} cannot run ${pg.postgres}: ${why}`);
  const staging = headStart?.staging ?? templateStaging(options, pg, osUser, log);
  // The agent's services are built before the runtime is shared, and stay for its whole life.
  const shutdown = new AbortController();
  const rt = new ComputeRuntime({
    options,
    computeCtlConfig: launch.computeCtlConfig,
    pg,
    osUser,
    log,
    sources: agentSources(options, staging),
    shutdown,
    remoteExt: await remoteExtensions(options, pg, log, shutdown.signal),
  });
  rt.state.subscribe((s, prev) =>
    log.info(
      { from: prev.status, to: s.status, error: s.error ?? undefined },
      `compute status ${prev.status} -> ${s.status}`,
    ),
  );
  // A base backup or restore of gigabytes says how far it is, every second.
  logProgress(rt.state, log);
  // A port or socket that cannot be bound fails the agent before the data directory is touched
  // (they were bound first thing; this is known by now).
  if (early) await early.allListening;
  const skipGrace = new AbortController();
  const removeSignals = installSignalHandlers(rt, () => skipGrace.abort());

  // The start pipeline first; the API and the services load and come up while it runs (REST
  // ports are bound already: requests wait for their handler, see early-listener.ts).
  if (launch.spec) {
    // A head start removed any earlier agent's staging before making its own.
    if (!headStart) staging?.sweep();
    void startCompute(rt, launch.spec, "launch");
  }
  const { startAgentServices } = await load.agentServices();
  const { background, servers: starting } = startAgentServices(rt, log, { early, controlPlaneAttempts });
  let servers: Awaited<typeof starting>;
  try {
    servers = await starting;
    if (!launch.spec) {
      loadAhead({ kind: "waiting_for_spec" });
      // Unless a spec arrived meanwhile (it would be copying the template already).
      if (rt.state.status === "empty") staging?.start();
    }
  } catch (err) {
    // Without an API the compute cannot be managed: stop what the pipeline started.
    rt.shutdown.abort(err);
    await rt.state.waitFor((st) => st.status !== "init" && st.status !== "configuration");
    await background.stop();
    await stopPostmasterBeforeExit(rt);
    await releaseSource(rt);
    await staging?.close();
    removeSignals();
    throw err;
  }

  const exit = await rt.exitRequested();
  if (exit.delay === "grace" && !skipGrace.signal.aborted) {
    log.info({ grace_s: options.exitGraceS }, "keeping the API up before exiting");
    await sleep(options.exitGraceS * 1000, skipGrace.signal);
  } else {
    await sleep(200, skipGrace.signal);
  }
  await background.stop();
  await stopPostmasterBeforeExit(rt);
  await releaseSource(rt);
  await staging?.close();
  await servers.close();
  for (const certificate of new Set(rt.tlsCertificates.values())) certificate.close();
  removeSignals();
  log.info({ exit_code: exit.code }, "compute_ctl exiting");
  return exit.code;
}
