// Command-line flags (node:util parseArgs) and their help text. Every flag is documented here.
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { AgentOptions } from "./options.js";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * What a usage error prints (exit status 2), as GNU tools do: one line saying what is wrong,
 * one line with the hint. Multi-line messages (node's parseArgs writes some) are joined.
 */
export function usageErrorText(message: string): string {
  const line = message.replace(/\s*\n\s*/g, " ").trim();
  return `compute_ctl: ${line}\nTry 'compute_ctl --help' for more information.\n`;
}

export const HELP = `compute_ctl - control agent for one serverless Postgres compute

Usage: compute_ctl -D PGDATA -C CONNSTR [-S SPEC | -c CONFIG | -p URI -i ID] [options]

Required:
  -D, --pgdata DIR              Postgres data directory (wiped and recreated on every start)
  -C, --connstr URL             superuser URL the agent uses to reach its own Postgres, e.g.
                                postgresql://postgres@127.0.0.1:55432/postgres; with the initdb
                                source its user is the cluster's bootstrap superuser

Where the spec comes from (none: start empty and wait for POST /configure or Configure RPC):
  -S, --spec FILE               a ComputeSpec JSON file
  -c, --config FILE             a ComputeConfig JSON file {"spec": ..., "compute_ctl_config": ...}
  -p, --control-plane-uri URI   fetch the config from GET {URI}/compute/api/v2/computes/{ID}/spec
                                (Bearer $NEON_CONTROL_PLANE_TOKEN; needs --compute-id)
  -i, --compute-id ID           compute id (control-plane URL and JWT compute_id claim)

Postgres:
  -b, --pgbin PATH              the postgres binary; initdb, pg_ctl, ... are found beside it
                                (default: postgres on PATH, else /usr/lib/postgresql/<newest>/bin,
                                else the optional npm dependency's PostgreSQL 17; the line
                                "Postgres binaries" at the end says which one this machine uses)
      --pg-user NAME            OS user that runs Postgres when the agent runs as root (postgres)
      --privileged-role-name N  the users' privileged role, ^[a-z_]+$ (neon_superuser)
      --pg-ready-timeout S      seconds to wait for Postgres to accept connections (60)
      --pg-tls-wait-s S         seconds a start waits for the files of compute_ctl_config.tls
                                (Postgres TLS, with the tls_experimental feature) (60)
      --cache-dir DIR           template cache for the initdb source
                                (default: $XDG_CACHE_HOME/compute_ctl or ~/.cache/compute_ctl)
      --no-template-cache       always run initdb
      --runtime-dir DIR         private runtime files: the archive source's pgBackRest config
                                (0600), locks and spool (default: PGDATA.run beside -D)

APIs:
      --http-host ADDR          address of the external REST and gRPC TCP listeners (0.0.0.0)
      --internal-http-host ADDR address of the internal REST listener (127.0.0.1)
      --external-http-port N    external REST port: control plane, probes, metrics (3080)
      --internal-http-port N    internal REST port: grants, extensions (3081)
      --grpc-port N             gRPC/Connect TCP port, JWT-protected (3082)
      --grpc-socket PATH        gRPC/Connect Unix socket, no token needed
                                (default: <tmpdir>/compute_ctl-<uid>/compute_ctl-<external port>.sock)
      --require-auth            refuse to start when no JWT keys are configured
      --insecure-no-auth        without JWT keys, also serve the routes and RPCs that change the
                                compute (configure, terminate, promote, LFC prewarm/offload,
                                grants, extensions) to non-loopback clients; by default they
                                answer 403 there
      --max-message-bytes N     largest request body or gRPC/Connect message (4194304)
      --max-connections N       open connections per listener (1024)
      --ready-max-age-s S       /ready is 200 only if Postgres answered a query within S s (3)
      --tls-cert FILE           PEM certificate (with its chain) of the external REST and gRPC
                                TCP ports: they then speak TLS only (HTTP/2 and HTTP/1.1 by
                                ALPN); re-read when it changes and on SIGHUP (docs/security.md)
      --tls-key FILE            its PEM private key (unencrypted; needs --tls-cert)
      --tls-client-ca FILE      PEM CA bundle: those ports require a client certificate it signed
                                (mTLS; needs --tls-cert)
      --tls-recheck-s S         certificate files (these and compute_ctl_config.tls's) are re-read
                                on change notifications, SIGHUP and every S seconds (60)
      --autoscaling-metrics-allow CIDRS  comma-separated networks allowed to GET /autoscaling_metrics (all)
      --autoscaling-metrics-rate R       per-client rate limit for /autoscaling_metrics, "N/s[,burst]" (off)
      --no-exporter             do not start the metrics exporter (thread)

Remote extensions (spec.remote_extensions):
  -r, --remote-ext-base-url URL  http(s) base URL of the extension archives: POST
                                /extension_server/{name} on the internal port downloads
                                {URL}/{archive_path} into the Postgres share and lib directories
                                (unset: remote extensions are off, the route answers 412)
      --remote-ext-max-bytes N  largest archive, compressed and unpacked each (536870912)

Autoscaling (only when the AUTOSCALING environment variable is set):
      --vm-monitor-addr ADDR    vm-monitor WebSocket listen address (0.0.0.0:10301)
      --cgroup NAME|PATH        cgroup v2 of Postgres: a name under /sys/fs/cgroup or an absolute
                                path (neon-postgres)
      --filecache-connstr CONN  the vm-monitor's Postgres connection (libpq URL or key=value
                                string; default: -C)

Neon compatibility (docs/neon-compatibility.md):
      --http-port N             Neon's older flag: external REST port N, internal N+1 (not with
                                --external-http-port/--internal-http-port)
      --installed-extensions-collection-interval S
                                seconds between collections of compute_installed_extensions
                                (3600; a spec's suspend_timeout_seconds > 0 overrides it)
      --pg-init-timeout S       fail the start (exit 1) unless running within S seconds (off)
      --resize-swap-on-bind     accepted; NeonVM swap resizing does not apply here (logged)
      --set-disk-quota-for-fs MOUNTPOINT
                                accepted; NeonVM disk quotas do not apply here (logged)
      --lakebase-mode true|false
                                accepted; Databricks (Hadron) mode does not apply here (logged)
      --pgbouncer-admin URL     pgbouncer's admin console for spec.pgbouncer_settings
                                (postgresql://postgres@localhost:6432/pgbouncer; with AUTOSCALING
                                postgresql://pgbouncer@%2Ftmp:6432/pgbouncer); password from
                                $PGBOUNCER_PASSWORD
      --pgbouncer-ini FILE      pgbouncer.ini the settings are persisted into
                                (/var/db/postgres/pgbouncer/pgbouncer.ini; with AUTOSCALING
                                /etc/pgbouncer.ini)
      --pgbouncer-pid-file FILE pgbouncer's pid file, killed on termination unless --dev
                                (/tmp/pgbouncer.pid)
      --local-proxy-dir DIR     where local_proxy reads config.json and writes its pid file
                                (/etc/local_proxy)

Behaviour:
      --exit-grace-s S          seconds the API stays up after a fast termination or a failed
                                start before the agent exits (30)
      --shutdown-escalation-s S seconds each rung of the shutdown ladder may take: a fast shutdown
                                (SIGINT) before Postgres gets SIGQUIT (immediate), an immediate
                                one before every Postgres process gets SIGKILL (30)
      --monitor-interval-ms N   activity monitor period (500)
      --log-format json|pretty  log format on stderr (json)
      --dev                     development mode: termination leaves pgbouncer and local_proxy
                                running
  -h, --help                    this help
  -V, --version                 print the version

Environment: NEON_CONTROL_PLANE_TOKEN, AUTOSCALING, LOG_LEVEL (info), BUILD_TAG, POSTGRES_PATH (as
-b), COMPUTE_CTL_PG_SYSTEM_DIR (searched instead of /usr/lib/postgresql), PGBOUNCER_PASSWORD.
`;

function intFlag(name: string, value: string | undefined, def: number): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!/^\s*[0-9.e+]+\s*$/i.test(value) || !Number.isFinite(n) || n < 0)
    throw new UsageError(`--${name} expects a non-negative number, got ${JSON.stringify(value)}`);
  return n;
}

function rangeFlag(name: string, value: string | undefined, def: number, min: number, max: number): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < min || n > max)
    throw new UsageError(`--${name} expects an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

/** A TCP port: 1-65535 (0, "any free port", would not be the port written into postgresql.conf). */
const portFlag = (name: string, value: string | undefined, def: number, max = 65535) =>
  rangeFlag(name, value, def, 1, max);

/** `-C` must be a libpq URL: checked here (exit 2), parsed in full by postgres/connection.ts. */
function checkConnstr(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--connstr must be a postgresql:// URL, got ${JSON.stringify(value.slice(0, 60))}`);
  }
  if (url.protocol !== "postgresql:" && url.protocol !== "postgres:")
    throw new UsageError(`--connstr must be a postgresql:// URL, not ${url.protocol}`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new UsageError("--connstr contains control characters");
  const port = url.searchParams.get("port") ?? url.port;
  if (port !== "") portFlag("connstr port", port, 0);
}

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "compute_ctl");
}

export function defaultGrpcSocket(externalPort: number): string {
  return path.join(os.tmpdir(), `compute_ctl-${process.getuid?.() ?? 0}`, `compute_ctl-${externalPort}.sock`);
}

export type ParsedCli = { kind: "help" } | { kind: "version" } | { kind: "run"; options: AgentOptions };

export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env): ParsedCli {
  let values: ReturnType<typeof parse>["values"];
  function parse() {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        pgdata: { type: "string", short: "D" },
        connstr: { type: "string", short: "C" },
        spec: { type: "string", short: "S" },
        config: { type: "string", short: "c" },
        "compute-id": { type: "string", short: "i" },
        "control-plane-uri": { type: "string", short: "p" },
        pgbin: { type: "string", short: "b" },
        "external-http-port": { type: "string" },
        "internal-http-port": { type: "string" },
        "http-host": { type: "string" },
        "internal-http-host": { type: "string" },
        "insecure-no-auth": { type: "boolean" },
        "max-message-bytes": { type: "string" },
        "max-connections": { type: "string" },
        "ready-max-age-s": { type: "string" },
        "grpc-port": { type: "string" },
        "grpc-socket": { type: "string" },
        "privileged-role-name": { type: "string" },
        "pg-user": { type: "string" },
        "pg-ready-timeout": { type: "string" },
        "cache-dir": { type: "string" },
        "no-template-cache": { type: "boolean" },
        "runtime-dir": { type: "string" },
        "require-auth": { type: "boolean" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        "tls-client-ca": { type: "string" },
        "pg-tls-wait-s": { type: "string" },
        "tls-recheck-s": { type: "string" },
        "autoscaling-metrics-allow": { type: "string" },
        "autoscaling-metrics-rate": { type: "string" },
        "no-exporter": { type: "boolean" },
        "remote-ext-base-url": { type: "string", short: "r" },
        "remote-ext-max-bytes": { type: "string" },
        "vm-monitor-addr": { type: "string" },
        cgroup: { type: "string" },
        "exit-grace-s": { type: "string" },
        "shutdown-escalation-s": { type: "string" },
        "monitor-interval-ms": { type: "string" },
        "log-format": { type: "string" },
        dev: { type: "boolean" },
        "filecache-connstr": { type: "string" },
        "http-port": { type: "string" },
        "installed-extensions-collection-interval": { type: "string" },
        "pg-init-timeout": { type: "string" },
        "resize-swap-on-bind": { type: "boolean" },
        "set-disk-quota-for-fs": { type: "string" },
        "lakebase-mode": { type: "string" },
        "pgbouncer-admin": { type: "string" },
        "pgbouncer-ini": { type: "string" },
        "pgbouncer-pid-file": { type: "string" },
        "local-proxy-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    });
  }
  try {
    values = parse().values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  if (!values.pgdata) throw new UsageError("--pgdata (-D) is required");
  if (!values.connstr) throw new UsageError("--connstr (-C) is required");
  checkConnstr(values.connstr);
  if (values["require-auth"] && values["insecure-no-auth"])
    throw new UsageError("--require-auth and --insecure-no-auth contradict each other");
  const sources = [values.spec, values.config, values["control-plane-uri"]].filter(Boolean);
  if (sources.length > 1)
    throw new UsageError("--spec, --config and --control-plane-uri are mutually exclusive");
  if (values["control-plane-uri"] && !values["compute-id"]) {
    throw new UsageError("--control-plane-uri needs --compute-id");
  }
  const role = values["privileged-role-name"] ?? "neon_superuser";
  if (!/^[a-z_]+$/.test(role))
    throw new UsageError(`--privileged-role-name must match ^[a-z_]+$, got ${JSON.stringify(role)}`);
  const logFormat = values["log-format"] ?? "json";
  if (logFormat !== "json" && logFormat !== "pretty")
    throw new UsageError(`--log-format must be json or pretty`);
  const remoteExtBaseUrl = values["remote-ext-base-url"] ?? null;
  if (remoteExtBaseUrl !== null) {
    let u: URL | null = null;
    try {
      u = new URL(remoteExtBaseUrl);
    } catch {
      u = null;
    }
    if (
      !u ||
      (u.protocol !== "http:" && u.protocol !== "https:") ||
      u.search ||
      u.hash ||
      u.username ||
      u.password
    )
      throw new UsageError(
        `--remote-ext-base-url expects an http:// or https:// URL without query, fragment or credentials, got ${JSON.stringify(remoteExtBaseUrl)}`,
      );
  }
  const remoteExtMaxBytes = intFlag(
    "remote-ext-max-bytes",
    values["remote-ext-max-bytes"],
    512 * 1024 * 1024,
  );
  if (!Number.isInteger(remoteExtMaxBytes) || remoteExtMaxBytes < 1024)
    throw new UsageError("--remote-ext-max-bytes expects an integer of at least 1024");
  const pgdata = path.resolve(values.pgdata);
  const httpPort = values["http-port"];
  if (httpPort !== undefined && (values["external-http-port"] || values["internal-http-port"]))
    throw new UsageError("--http-port cannot be used with --external-http-port or --internal-http-port");
  const externalHttpPort =
    httpPort !== undefined
      ? portFlag("http-port", httpPort, 3080, 65534)
      : portFlag("external-http-port", values["external-http-port"], 3080);
  const internalHttpPort =
    httpPort !== undefined
      ? externalHttpPort + 1
      : portFlag("internal-http-port", values["internal-http-port"], 3081);
  const lakebase = values["lakebase-mode"];
  if (lakebase !== undefined && lakebase !== "true" && lakebase !== "false")
    throw new UsageError(`--lakebase-mode expects true or false, got ${JSON.stringify(lakebase)}`);
  const autoscaling = env.AUTOSCALING !== undefined;
  const extensionsInterval = intFlag(
    "installed-extensions-collection-interval",
    values["installed-extensions-collection-interval"],
    3600,
  );
  if (extensionsInterval < 1 || extensionsInterval > 2_147_483)
    throw new UsageError("--installed-extensions-collection-interval expects 1 to 2147483 seconds");
  const pgInitTimeout = values["pg-init-timeout"];
  const tlsCert = values["tls-cert"] ?? null;
  const tlsKey = values["tls-key"] ?? null;
  const tlsClientCa = values["tls-client-ca"] ?? null;
  if ((tlsCert === null) !== (tlsKey === null))
    throw new UsageError("--tls-cert and --tls-key go together: give both or neither");
  if (tlsClientCa !== null && tlsCert === null)
    throw new UsageError(
      "--tls-client-ca needs --tls-cert and --tls-key (client certificates are checked in TLS)",
    );
  for (const [flag, value] of [
    ["--tls-cert", tlsCert],
    ["--tls-key", tlsKey],
    ["--tls-client-ca", tlsClientCa],
  ] as const) {
    if (value === "") throw new UsageError(`${flag} expects a file path, got ""`);
  }
  const pgTlsWaitS = intFlag("pg-tls-wait-s", values["pg-tls-wait-s"], 60);
  if (pgTlsWaitS > 86_400)
    throw new UsageError(
      `--pg-tls-wait-s expects 0 to 86400 seconds, got ${JSON.stringify(values["pg-tls-wait-s"])}`,
    );
  const tlsRecheckS = intFlag("tls-recheck-s", values["tls-recheck-s"], 60);
  if (tlsRecheckS < 1 || tlsRecheckS > 86_400)
    throw new UsageError(
      `--tls-recheck-s expects 1 to 86400 seconds, got ${JSON.stringify(values["tls-recheck-s"])}`,
    );
  return {
    kind: "run",
    options: {
      pgdata,
      connstr: values.connstr,
      specPath: values.spec ?? null,
      configPath: values.config ?? null,
      computeId: values["compute-id"] ?? null,
      controlPlaneUri: values["control-plane-uri"] ?? null,
      pgbin: values.pgbin ?? env.POSTGRES_PATH,
      pgbinFrom: values.pgbin ? "--pgbin" : env.POSTGRES_PATH ? "POSTGRES_PATH" : null,
      externalHttpPort,
      internalHttpPort,
      httpHost: values["http-host"] ?? "0.0.0.0",
      internalHttpHost: values["internal-http-host"] ?? "127.0.0.1",
      grpcPort: portFlag("grpc-port", values["grpc-port"], 3082),
      grpcSocket: values["grpc-socket"] ?? defaultGrpcSocket(externalHttpPort),
      privilegedRoleName: role,
      pgUser: values["pg-user"] ?? "postgres",
      dev: values.dev ?? false,
      exitGraceS: intFlag("exit-grace-s", values["exit-grace-s"], 30),
      shutdownEscalationS: intFlag("shutdown-escalation-s", values["shutdown-escalation-s"], 30),
      pgReadyTimeoutS: intFlag("pg-ready-timeout", values["pg-ready-timeout"], 60),
      monitorIntervalMs: intFlag("monitor-interval-ms", values["monitor-interval-ms"], 500),
      requireAuth: values["require-auth"] ?? false,
      insecureNoAuth: values["insecure-no-auth"] ?? false,
      maxMessageBytes: rangeFlag(
        "max-message-bytes",
        values["max-message-bytes"],
        4 * 1024 * 1024,
        1024,
        2 ** 30,
      ),
      maxConnections: rangeFlag("max-connections", values["max-connections"], 1024, 1, 1_000_000),
      readyMaxAgeS: intFlag("ready-max-age-s", values["ready-max-age-s"], 3),
      tlsCertPath: tlsCert === null ? null : path.resolve(tlsCert),
      tlsKeyPath: tlsKey === null ? null : path.resolve(tlsKey),
      tlsClientCaPath: tlsClientCa === null ? null : path.resolve(tlsClientCa),
      pgTlsWaitS,
      tlsRecheckS,
      logFormat,
      cacheDir: values["no-template-cache"] ? null : (values["cache-dir"] ?? defaultCacheDir()),
      runtimeDir: path.resolve(values["runtime-dir"] ?? `${pgdata}.run`),
      vmMonitorAddr: values["vm-monitor-addr"] ?? "0.0.0.0:10301",
      cgroup: values.cgroup ?? "neon-postgres",
      autoscaling,
      autoscalingMetricsAllow: values["autoscaling-metrics-allow"] ?? null,
      autoscalingMetricsRate: values["autoscaling-metrics-rate"] ?? null,
      exporter: !(values["no-exporter"] ?? false),
      remoteExtBaseUrl,
      remoteExtMaxBytes,
      filecacheConnstr: values["filecache-connstr"] ?? null,
      installedExtensionsIntervalS: extensionsInterval,
      pgInitTimeoutS:
        pgInitTimeout === undefined ? null : Math.max(1, intFlag("pg-init-timeout", pgInitTimeout, 60)),
      resizeSwapOnBind: values["resize-swap-on-bind"] ?? false,
      setDiskQuotaForFs: values["set-disk-quota-for-fs"] ?? null,
      lakebaseMode: lakebase === "true",
      pgbouncerAdmin:
        values["pgbouncer-admin"] ??
        (autoscaling
          ? "postgresql://pgbouncer@%2Ftmp:6432/pgbouncer"
          : "postgresql://postgres@localhost:6432/pgbouncer"),
      pgbouncerIni:
        values["pgbouncer-ini"] ??
        (autoscaling ? "/etc/pgbouncer.ini" : "/var/db/postgres/pgbouncer/pgbouncer.ini"),
      pgbouncerPidFile: values["pgbouncer-pid-file"] ?? "/tmp/pgbouncer.pid",
      localProxyDir: values["local-proxy-dir"] ?? "/etc/local_proxy",
    },
  };
}
