// Starts the API listeners concurrently: external REST (JWT on control-plane routes), internal
// REST (no auth), and later the gRPC/Connect listeners.
import type { Logger } from "pino";
import type { Authorizer } from "../api/auth/access-policy.js";
import type { ComputeApi } from "../api/compute-api.js";
import { listenerLimits } from "../api/listener/limits.js";
import { isLoopback } from "../api/listener/peer-address.js";
import type { EarlyListeners } from "../api/rest/early-listener.js";
import { type AutoscalingMetricsForwarder, externalRoutes, internalRoutes } from "../api/rest/route-table.js";
import { type RestServer, startRestServer } from "../api/rest/server.js";
import type { ComputeRuntime } from "../compute/compute-runtime.js";
import * as load from "../loading/modules.js";

export interface ApiServers {
  external: RestServer;
  internal: RestServer;
  close(): Promise<void>;
}

/**
 * JWT authorization from the launch-time keys. Without keys only loopback and Unix-socket
 * clients may change the compute (--insecure-no-auth: everyone, with a warning), unless
 * --require-auth makes that a startup error. jose is loaded only when keys exist.
 */
export async function launchAuthorizer(rt: ComputeRuntime, log: Logger): Promise<Authorizer | null> {
  const jwks = rt.computeCtlConfig.jwks;
  if (jwks === undefined && !rt.options.requireAuth) {
    if (rt.options.insecureNoAuth) {
      log.warn(
        { host: rt.options.httpHost },
        "--insecure-no-auth without JWT keys: anyone who can reach the API ports can reconfigure, " +
          "terminate or promote this compute and run SQL as its superuser through the spec; " +
          "configure compute_ctl_config.jwks instead",
      );
    } else {
      log.info(
        "no JWT keys in compute_ctl_config.jwks: what changes the compute (configure, terminate, " +
          "promote, LFC prewarm/offload, grants, extensions) is served to loopback and Unix-socket " +
          "clients only (403 for others)",
      );
    }
    return null;
  }
  if (jwks?.keys.length === 0) {
    log.warn(
      'compute_ctl_config.jwks is an empty key set: every authenticated request is refused (401), as in Neon; omit "jwks" for no token checks',
    );
  }
  const { createAuthorizer } = await load.auth();
  return createAuthorizer({
    jwks: jwks as { keys: import("jose").JWK[] } | undefined,
    computeId: rt.options.computeId,
    requireAuth: rt.options.requireAuth,
  });
}

/**
 * With JWT keys, every plaintext listener reachable from other hosts carries bearer tokens (and
 * specs with password hashes) in clear text: say so at start, naming the listener and the fix.
 */
function warnPlaintextTokens(rt: ComputeRuntime, tls: boolean, log: Logger): void {
  if (rt.computeCtlConfig.jwks === undefined) return;
  const o = rt.options;
  const local = (host: string) => host === "localhost" || isLoopback(host);
  const plaintext = [
    { listener: "external_http", host: o.httpHost, port: o.externalHttpPort, tls },
    { listener: "grpc", host: o.httpHost, port: o.grpcPort, tls },
    { listener: "internal_http", host: o.internalHttpHost, port: o.internalHttpPort, tls: false },
  ].filter((l) => !l.tls && !local(l.host));
  for (const l of plaintext) {
    log.warn(
      { listener: l.listener, host: l.host, port: l.port },
      `${l.listener} on ${l.host}:${l.port} is plaintext and reachable from other hosts: JWTs and specs travel in clear text ` +
        (l.listener === "internal_http"
          ? "(bind it to loopback with --internal-http-host 127.0.0.1)"
          : "(give --tls-cert and --tls-key)"),
    );
  }
}

export async function startApiServers(
  rt: ComputeRuntime,
  api: ComputeApi,
  log: Logger,
  /** GET /autoscaling_metrics: the exporter's answer (HTTP forwarded, not a facade operation). */
  forwardAutoscalingMetrics: AutoscalingMetricsForwarder,
  early?: EarlyListeners,
): Promise<ApiServers> {
  const o = rt.options;
  const authorizer = await launchAuthorizer(rt, log);
  const limits = listenerLimits(o);
  const tls = early?.tls ?? null;
  if (tls) {
    rt.tlsCertificates.set("external_http", tls.certificate);
    rt.tlsCertificates.set("grpc", tls.certificate);
  }
  warnPlaintextTokens(rt, tls !== null, log);
  // gRPC/Connect loads a large set of libraries on the main thread: with a spec at launch it waits
  // until the start pipeline is done so it does not compete with the cold start (REST is up
  // at once for probes and /status); an empty compute starts it right away.
  const grpcStarting = rt.state
    .waitFor((st) => st.status !== "init")
    .then(() => load.grpcApi())
    .then(({ startGrpcServer }) =>
      startGrpcServer({
        api,
        socketPath: o.grpcSocket,
        host: o.httpHost,
        port: o.grpcPort,
        authorizer,
        insecureNoAuth: o.insecureNoAuth,
        limits,
        log,
        early: early && { tcp: early.grpcTcp, unix: early.grpcUnix },
        tls,
      }),
    );
  const [external, internal] = await Promise.all([
    startRestServer({
      name: "external",
      host: o.httpHost,
      port: o.externalHttpPort,
      routes: externalRoutes(forwardAutoscalingMetrics),
      api,
      log,
      authorizer,
      insecureNoAuth: o.insecureNoAuth,
      limits,
      early: early?.external,
      tls,
    }),
    startRestServer({
      name: "internal",
      host: o.internalHttpHost,
      port: o.internalHttpPort,
      routes: internalRoutes(),
      api,
      log,
      authorizer,
      insecureNoAuth: o.insecureNoAuth,
      limits,
      early: early?.internal,
    }),
  ]);
  const grpc = grpcStarting.then(
    (server) => {
      log.info({ port: server.port, socket: server.socketPath }, "gRPC/Connect listening");
      return server;
    },
    (err: unknown) => {
      // A control plane cannot manage a compute whose API did not come up: give up.
      log.fatal({ err }, "gRPC/Connect server failed to start");
      rt.requestExit(1, "soon");
      return null;
    },
  );
  return {
    external,
    internal,
    close: async () => {
      await Promise.all([external.close(), internal.close(), grpc.then((g) => g?.close())]);
    },
  };
}
