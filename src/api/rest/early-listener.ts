// The REST ports are bound first thing at agent start, before the rest of the agent is loaded:
// probes and control planes can connect earlier (instead of getting ECONNREFUSED while
// Node loads the agent), and a port already in use is known at once. Requests that arrive before
// the REST server attaches its handler wait for it and are then served in order. The gRPC/Connect
// TCP port and Unix socket are bound here too (held until that server loads). Only node:http,
// node:net and the listener limits are loaded here.
import http from "node:http";
import type { Socket } from "node:net";
import { EarlyNetListener } from "../listener/early-net-listener.js";
import { answerClientError, type ListenerLimits, listenerLimits } from "../listener/limits.js";
import type { BoundUnixSocket } from "../listener/unix-socket.js";

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export class EarlyListener {
  readonly server: http.Server;
  /** Resolves once the port is bound; rejects with the listen error (e.g. EADDRINUSE). */
  readonly listening: Promise<http.Server>;
  private handler: Handler | null = null;
  private waiting: [http.IncomingMessage, http.ServerResponse][] = [];

  constructor(
    host: string,
    port: number,
    readonly limits: ListenerLimits = listenerLimits(),
  ) {
    this.server = http.createServer(
      {
        maxHeaderSize: limits.maxHeaderBytes,
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        connectionsCheckingInterval: 1000,
        keepAliveTimeout: 5000,
      },
      (req, res) => {
        if (this.handler) this.handler(req, res);
        else this.waiting.push([req, res]);
      },
    );
    this.server.maxConnections = limits.maxConnections;
    // Garbage, oversized headers (431) and slow clients (408) get an answer and are closed.
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) =>
      answerClientError(err, socket),
    );
    this.listening = new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve(this.server);
      });
    });
    // Awaited later (by the REST server); an agent that stops before that must not crash on it.
    this.listening.catch(() => {});
  }

  /** Hands every request, the waiting ones first, to `handler`. */
  attach(handler: Handler): void {
    this.handler = handler;
    for (const [req, res] of this.waiting.splice(0)) handler(req, res);
  }
}

export interface EarlyListeners {
  external: EarlyListener;
  internal: EarlyListener;
  grpcTcp: EarlyNetListener;
  grpcUnix: EarlyNetListener<BoundUnixSocket>;
  /** Settles when every listener is bound; rejects with the first bind error. */
  readonly allListening: Promise<unknown>;
}

export function listenEarly(o: {
  httpHost: string;
  internalHttpHost: string;
  externalHttpPort: number;
  internalHttpPort: number;
  grpcPort: number;
  grpcSocket: string;
  maxConnections: number;
  maxMessageBytes: number;
}): EarlyListeners {
  const limits = listenerLimits(o);
  const external = new EarlyListener(o.httpHost, o.externalHttpPort, limits);
  const internal = new EarlyListener(o.internalHttpHost, o.internalHttpPort, limits);
  const grpcTcp = EarlyNetListener.tcp(o.httpHost, o.grpcPort, limits);
  const grpcUnix = EarlyNetListener.unix(o.grpcSocket, limits);
  const allListening = Promise.all([
    external.listening,
    internal.listening,
    grpcTcp.listening,
    grpcUnix.listening,
  ]);
  allListening.catch(() => {});
  return { external, internal, grpcTcp, grpcUnix, allListening };
}
