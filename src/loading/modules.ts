// Everything the agent loads on first use instead of at start, one named loader each. Domain
// code says what it needs (`await load.reconciler()`), never `import()`: what is lazy is this
// list, and when it is loaded ahead of need is load-ahead.ts (the start's idle moments) and
// agent-sources.ts (the data sources). Each target is its own bundle chunk (bin/build-bundle.mjs
// splits at every `import()`), so a module listed here costs nothing until it is used.
//
// Use it as `import * as load from "../loading/modules.js"`. Only the agent's bundle may import it
// (esbuild cuts a chunk for every `import()` it sees): code the exporter thread shares loads pg
// through pg-loader.ts.
//
// Left where they are, as the module's own concern: the zstd codecs' WASM/JS initialisation
// (src/zstd/zstd-codec.ts: the codec object owns its one-time init), jose in endpoint-storage (a
// separate process with its own bundle) and the exporter worker's bootstrap string in
// exporter-host/exporter-supervisor.ts (code the worker runs, not an import of ours).

// --- The process entry (cli/main.ts): the agent after its ports are bound ---
/** The REST ports, bound once the head start has begun. */
export const earlyListener = () => import("../api/rest/early-listener.js");
export const agent = () => import("../agent/run-agent.js");
export const logger = () => import("../log/logger.js");
export const pinoPretty = () => import("pino-pretty");
/** --help and --version only. */
export const pgBinaries = () => import("../postgres/binaries.js");
export const installRoot = () => import("../cli/install-root.js");
/** --tls-cert only. */
export const listenerTls = () => import("../tls/listener-tls.js");
export const certificatePair = () => import("../tls/certificate-pair.js");

// --- Once the start pipeline runs: the API and the services around the compute ---
export const agentServices = () => import("../agent/agent-services.js");
/** After the start (an empty compute: at once); REST is up before. */
export const grpcApi = () => import("../api/grpc/index.js");
export const auth = () => import("../api/auth/index.js");
export const exporterSupervisor = () => import("../exporter-host/exporter-supervisor.js");
export const autoscalingForwarder = () => import("../exporter-host/forward-autoscaling-metrics.js");
export const openapiYaml = () => import("yaml");

// --- The spec and its application (load-ahead.ts preloads them while Postgres starts) ---
export const specParser = () => import("../spec/parse.js");
export const reconciler = () => import("../reconcile/index.js");
export const subscriptionDrops = () => import("../reconcile/subscription-drops.js");
export const dropSubscriptionsNow = () => import("../reconcile/drop-subscriptions-now.js");
export { pg } from "./pg-loader.js";
export const execa = () => import("execa");

// --- Data sources other than initdb (agent-sources.ts) ---
export const primaryBasebackup = () => import("../startup/sources/primary-basebackup.js");
export const neonSource = () => import("../startup/sources/neon-source.js");
export const archiveSource = () => import("../startup/sources/archive-source.js");

// --- Features used by some computes only ---
/** compute_ctl_config.tls: Postgres's certificate. */
export const postgresTls = () => import("../tls/postgres-tls.js");
/** AUTOSCALING set. */
export const autoscaling = () => import("../autoscaling/index.js");
/** Once running: the installed-extensions collection. */
export const installedExtensions = () => import("../monitor/installed-extensions.js");
/** pgbouncer_settings in the spec. */
export const pgbouncer = () => import("../sidecars/pgbouncer.js");
/** LFC prewarm / offload requests. */
export const lfcOperations = () => import("../lfc/lfc-operations.js");
/** Operator reads: /database_schema, /insights, /check_writability. */
export const schemaDump = () => import("../diagnostics/schema-dump.js");
export const insights = () => import("../diagnostics/insights.js");
export const writabilityCheck = () => import("../diagnostics/check-writability.js");
/** -r: remote extensions, and their parts as a spec or a request needs them. */
export const remoteExtensions = () => import("../remote-ext/remote-extensions.js");
export const pgInstallDirs = () => import("../remote-ext/pg-install-dirs.js");
export const extensionDownloader = () => import("../remote-ext/extension-downloader.js");
export const archiveInstall = () => import("../remote-ext/archive-install.js");
export const controlFiles = () => import("../remote-ext/control-files.js");
export const remoteExtLookup = () => import("../remote-ext/remote-ext-lookup.js");
