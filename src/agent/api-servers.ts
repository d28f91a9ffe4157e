// Starts the API listeners concurrently: external REST (JWT on control-plane routes), internal
// REST (no auth), and later the gRPC/Connect listeners.
import type { Logger } from "pino";
import type { ComputeApi } from "../api/compute-api.js";
import { listenerLimits } from "../api/listener/limits.js";
import type { EarlyListeners } from "../api/rest/early-listener.js";
import { externalRoutes, internalRoutes } from "../api/rest/router.js";
import { type RequestAuthorizer, type RestServer, startRestServer } from "../api/rest/server.js";
import type { ComputeRuntime } from "../compute/compute-runtime.js";

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
export async function launchAuthorizer(rt: ComputeRuntime, log: Logger): Promise<RequestAuthorizer | null> {
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
  const { createAuthorizer } = await import("../api/auth/index.js");
  return createAuthorizer({
    jwks: jwks as { keys: import("jose").JWK[] } | undefined,
    computeId: rt.options.computeId,
    requireAuth: rt.options.requireAuth,
  });
}

export async function startApiServers(
  rt: ComputeRuntime,
  api: ComputeApi,
  log: Logger,
  early?: EarlyListeners,
): Promise<ApiServers> {
  const o = rt.options;
  const authorizer = await launchAuthorizer(rt, log);
  const limits = listenerLimits(o);
  // gRPC/Connect loads a large set of libraries on the main thread: with a spec at launch it waits
  // until the start pipeline is done so it does not compete with the cold start (REST is up
  // at once for probes and /status); an empty compute starts it right away.
  const grpcStarting = rt.state
    .waitFor((st) => st.status !== "init")
    .then(() => import("../api/grpc/index.js"))
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
      }),
    );
  const [external, internal] = await Promise.all([
    startRestServer({
      name: "external",
      host: o.httpHost,
      port: o.externalHttpPort,
      routes: externalRoutes(),
      api,
      log,
      authorizer,
      insecureNoAuth: o.insecureNoAuth,
      limits,
      early: early?.external,
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
