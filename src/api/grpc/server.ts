// Serves compute.v1.ComputeService (plus reflection) over Connect, gRPC and gRPC-Web on two
// listeners: the Unix socket (trusted: no token, only the agent's OS user can reach it) and TCP
// (JWT on every call when keys are configured; without keys the mutating RPCs only for loopback
// peers). Both accept HTTP/2 prior knowledge and HTTP/1.1; with --tls-cert the TCP listener
// speaks TLS only (src/tls), HTTP/2 or HTTP/1.1 as ALPN decides. Every call passes call-gate.ts on its
// headers before its body is read; the listeners apply the limits of listener/limits.ts.
import { setMaxListeners } from "node:events";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { ComputeService } from "../../../gen/compute/v1/compute_service_pb.js";
import type { ListenerTls } from "../../tls/listener-tls.js";
import type { AlpnProtocol } from "../../tls/tls-front.js";
import type { Authorizer } from "../auth/access-policy.js";
import type { ComputeApi } from "../compute-api.js";
import {
  type BoundUnixSocket,
  createDualProtocolListener,
  EarlyNetListener,
  type ListenerLimits,
  listenerLimits,
  RequestDeadlines,
  type RequestHandler,
  type WireProtocol,
} from "../listener/index.js";
import { answerRefused, type CallGate, createCallGate, MAX_TIMEOUT_MS } from "./call-gate.js";
import { computeServiceImpl } from "./compute-service.js";
import { unaryGrpcFastPath } from "./fast-path/unary-fast-path.js";
import { translateErrors } from "./interceptors.js";
import { reflectionRoutes } from "./reflection/reflection-service.js";

const ALPN_WIRE: Record<AlpnProtocol, WireProtocol> = { h2: "http2", "http/1.1": "http1" };

/** The two listeners, bound at agent start (src/api/rest/early-listener.ts). */
export interface EarlyGrpcListeners {
  tcp: EarlyNetListener;
  unix: EarlyNetListener<BoundUnixSocket>;
}

export interface GrpcServerOptions {
  api: ComputeApi;
  /** Unix socket path (at most 107 bytes); its directory is created 0700 if missing. */
  socketPath: string;
  /** TCP address and port (0: ephemeral). */
  host: string;
  port: number;
  /** null: no JWT keys. */
  authorizer: Authorizer | null;
  /** Without keys, serve the mutating RPCs to non-loopback TCP peers too (--insecure-no-auth). */
  insecureNoAuth?: boolean;
  log: Logger;
  /** Header, body, timeout and connection limits (default: listenerLimits()). */
  limits?: ListenerLimits;
  /** Listeners bound earlier; without them the server binds its own. */
  early?: EarlyGrpcListeners;
  /**
   * TLS on the TCP listener (--tls-cert): HTTP/2 and HTTP/1.1 by ALPN, plaintext refused; with a
   * client CA, client certificates required. null: plaintext (sniffed). The Unix socket never.
   */
  tls?: ListenerTls | null;
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

/**
 * Runs the gate on the request's headers, then hands it to connect-node or answers the refusal.
 * An HTTP/2 request is watched until its stream closes: past the request timeout without an
 * answer, it is cancelled (HTTP/1.1 has Node's requestTimeout).
 */
function gated(gate: CallGate, serve: RequestHandler, deadlines: RequestDeadlines): RequestHandler {
  return (req, res) => {
    if ("stream" in req) deadlines.watch(req.stream);
    const verdict = gate(req.url?.split("?", 1)[0], req.headers, () => req.socket?.remoteAddress);
    if (verdict === null) serve(req, res);
    else if (verdict instanceof ConnectError) answerRefused(req, res, verdict);
    else void verdict.then((err) => (err ? answerRefused(req, res, err) : serve(req, res)));
  };
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<GrpcServer> {
  const log = opts.log.child({ api: "grpc" });
  const graceMs = opts.shutdownGraceMs ?? 2000;
  const limits = opts.limits ?? listenerLimits();
  // Aborting it ends every handler's ctx.signal: WatchStatus and StreamMetrics return at once.
  const shutdown = new AbortController();
  // Every in-flight call listens on it; hundreds of streams are normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  const impl = computeServiceImpl(opts.api);
  const routes = (router: ConnectRouter) => {
    router.service(ComputeService, impl);
    reflectionRoutes([ComputeService])(router);
  };
  const connect = (interceptors: Interceptor[]) =>
    connectNodeAdapter({
      routes,
      interceptors,
      shutdownSignal: shutdown.signal,
      readMaxBytes: limits.maxMessageBytes,
      // The gate clamps longer deadlines to this; connect-node would refuse them.
      maxTimeoutMs: MAX_TIMEOUT_MS,
    }) as RequestHandler;
  const tcpGate = createCallGate({
    authorizer: opts.authorizer,
    local: false,
    insecureNoAuth: opts.insecureNoAuth ?? false,
    certifiedPeers: opts.tls?.requireClientCertificate ?? false,
  });
  const unixGate = createCallGate({ authorizer: null, local: true, insecureNoAuth: false });
  // Unary gRPC over HTTP/2 skips connect-node's pipeline (see fast-path/unary-fast-path.ts); it passes
  // the same gate and translates errors the same way.
  const deadlines = new RequestDeadlines(limits.requestTimeoutMs);
  const fastPath = (gate: CallGate) =>
    opts.unaryFastPath === false
      ? undefined
      : unaryGrpcFastPath({
          service: ComputeService,
          impl,
          gate,
          maxMessageBytes: limits.maxMessageBytes,
          deadlines,
          shutdownSignal: shutdown.signal,
        });
  const tcp = createDualProtocolListener({
    handler: gated(tcpGate, connect([translateErrors]), deadlines),
    log,
    claim: fastPath(tcpGate),
    limits,
  });
  const uds = createDualProtocolListener({
    handler: gated(unixGate, connect([translateErrors]), deadlines),
    log,
    claim: fastPath(unixGate),
    limits,
  });

  const tcpListener = opts.early?.tcp ?? EarlyNetListener.tcp(opts.host, opts.port, limits);
  const unixListener = opts.early?.unix ?? EarlyNetListener.unix(opts.socketPath, limits);
  // With TLS the TCP connections pass the TLS front first; ALPN tells their protocol.
  const front =
    opts.tls?.front({
      alpn: ["h2", "http/1.1"],
      handshakeTimeoutMs: limits.headersTimeoutMs,
      log,
      onSecure: (s, alpn) => tcp.handleConnection(s, alpn ? ALPN_WIRE[alpn] : undefined),
    }) ?? null;
  let socket: BoundUnixSocket | null = null;
  const close = async () => {
    shutdown.abort(new ConnectError("the agent is shutting down", Code.Unavailable));
    front?.close();
    await Promise.all([tcpListener.close(), unixListener.close(), tcp.close(graceMs), uds.close(graceMs)]);
    deadlines.close();
    await socket?.release();
  };
  try {
    [, socket] = await Promise.all([tcpListener.listening, unixListener.listening]);
  } catch (err) {
    await close();
    throw err;
  }
  tcpListener.attach(front ? front.handleConnection : tcp.handleConnection);
  unixListener.attach(uds.handleConnection);
  const address = tcpListener.server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  const auth = opts.authorizer !== null;
  log.info(
    {
      host: opts.host,
      port,
      socket: opts.socketPath,
      auth,
      insecure_no_auth: !auth && opts.insecureNoAuth,
      tls: front !== null,
      client_certificates: opts.tls?.requireClientCertificate ?? false,
    },
    "gRPC/Connect API listening (TCP and Unix socket)",
  );
  return {
    port,
    socketPath: opts.socketPath,
    get connectionCount() {
      return tcp.connectionCount + uds.connectionCount + (front?.handshakingCount ?? 0);
    },
    close,
  };
}
