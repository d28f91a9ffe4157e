// Serves compute.v1.ComputeService (plus reflection) over Connect, gRPC and gRPC-Web on two
// listeners: the Unix socket (trusted: no token, only the agent's OS user can reach it) and TCP
// (JWT on every call when keys are configured). Both accept HTTP/2 prior knowledge and HTTP/1.1.

import { setMaxListeners } from "node:events";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { ComputeService } from "../../../gen/compute/v1/compute_service_pb.js";
import type { ComputeApi } from "../compute-api.js";
import {
  type BoundUnixSocket,
  createDualProtocolListener,
  type DualProtocolListener,
  listenUnixSocket,
  type RequestHandler,
} from "../listener/index.js";
import { computeServiceImpl } from "./compute-service.js";
import { requireAuthorization, translateErrors } from "./interceptors.js";
import { reflectionRoutes } from "./reflection/reflection-service.js";
import { unaryGrpcFastPath } from "./unary-fast-path.js";

/** The part of the JWT authorizer (src/api/auth) the server needs; `enabled: false` or null: no checks. */
export interface GrpcAuthorizer {
  readonly enabled?: boolean;
  verify(authorization: string | undefined): Promise<void>;
}

export interface GrpcServerOptions {
  api: ComputeApi;
  /** Unix socket path (at most 107 bytes); its directory is created 0700 if missing. */
  socketPath: string;
  /** TCP address and port (0: ephemeral). */
  host: string;
  port: number;
  authorizer: GrpcAuthorizer | null;
  log: Logger;
  /** How long close() lets in-flight calls finish before cutting connections (default 2000 ms). */
  shutdownGraceMs?: number;
  /** Serve unary gRPC over HTTP/2 on the raw stream API (default true; false: all through connect-node). */
  unaryFastPath?: boolean;
}

export interface GrpcServer {
  /** The bound TCP port. */
  readonly port: number;
  readonly socketPath: string;
  /** Open connections on both listeners (for leak checks). */
  readonly connectionCount: number;
  /** Ends streams, stops both listeners and removes the socket file; never hangs past the grace. */
  close(): Promise<void>;
}

function listenTcp(listener: DualProtocolListener, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    listener.server.once("error", reject);
    listener.server.listen(port, host, () => {
      listener.server.off("error", reject);
      resolve();
    });
  });
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<GrpcServer> {
  const log = opts.log.child({ api: "grpc" });
  const graceMs = opts.shutdownGraceMs ?? 2000;
  // Aborting it ends every handler's ctx.signal: WatchStatus and StreamMetrics return at once.
  const shutdown = new AbortController();
  // Every in-flight call listens on it; hundreds of streams are normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  const impl = computeServiceImpl(opts.api);
  const routes = (router: ConnectRouter) => {
    router.service(ComputeService, impl);
    reflectionRoutes([ComputeService])(router);
  };
  // Unary gRPC over HTTP/2 skips connect-node's pipeline (see unary-fast-path.ts); it applies
  // the same two rules as the interceptors below.
  const fastPath = (authorizer: GrpcAuthorizer | null) =>
    opts.unaryFastPath === false
      ? undefined
      : unaryGrpcFastPath({ service: ComputeService, impl, authorizer, shutdownSignal: shutdown.signal });
  const handler = (interceptors: Interceptor[]) =>
    connectNodeAdapter({ routes, interceptors, shutdownSignal: shutdown.signal }) as RequestHandler;

  const tcpAuth =
    opts.authorizer && opts.authorizer.enabled !== false ? [requireAuthorization(opts.authorizer)] : [];
  const tcp = createDualProtocolListener(
    handler([...tcpAuth, translateErrors]),
    log,
    fastPath(tcpAuth.length ? opts.authorizer : null),
  );
  const uds = createDualProtocolListener(handler([translateErrors]), log, fastPath(null));

  let socket: BoundUnixSocket | null = null;
  const close = async () => {
    shutdown.abort(new ConnectError("the agent is shutting down", Code.Unavailable));
    await Promise.all([tcp.close(graceMs), uds.close(graceMs)]);
    await socket?.release();
  };
  try {
    await listenTcp(tcp, opts.port, opts.host);
    socket = await listenUnixSocket(uds.server, opts.socketPath);
  } catch (err) {
    await close();
    throw err;
  }
  const address = tcp.server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  log.info(
    { host: opts.host, port, socket: opts.socketPath, auth: tcpAuth.length > 0 },
    "gRPC/Connect API listening (TCP and Unix socket)",
  );
  return {
    port,
    socketPath: opts.socketPath,
    get connectionCount() {
      return tcp.connectionCount + uds.connectionCount;
    },
    close,
  };
}
