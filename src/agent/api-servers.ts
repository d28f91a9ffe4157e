// Starts the API listeners concurrently: external REST (JWT on control-plane routes), internal
// REST (no auth), and later the gRPC/Connect listeners.
import type { Logger } from "pino";
import type { ComputeApi } from "../api/compute-api.js";
import { externalRoutes, internalRoutes } from "../api/rest/router.js";
import { type RestServer, startRestServer } from "../api/rest/server.js";
import type { ComputeRuntime } from "../compute/compute-runtime.js";

export interface ApiServers {
  external: RestServer;
  internal: RestServer;
  close(): Promise<void>;
}

export async function startApiServers(rt: ComputeRuntime, api: ComputeApi, log: Logger): Promise<ApiServers> {
  const o = rt.options;
  const [external, internal] = await Promise.all([
    startRestServer({
      name: "external",
      host: o.httpHost,
      port: o.externalHttpPort,
      routes: externalRoutes(),
      api,
      log,
      authorizer: null,
    }),
    startRestServer({
      name: "internal",
      host: o.httpHost,
      port: o.internalHttpPort,
      routes: internalRoutes(),
      api,
      log,
      authorizer: null,
    }),
  ]);
  return {
    external,
    internal,
    close: async () => {
      await Promise.all([external.close(), internal.close()]);
    },
  };
}
