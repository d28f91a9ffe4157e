// The REST ports are bound first thing at agent start, before the rest of the agent is loaded:
// probes and control planes can connect earlier (instead of getting ECONNREFUSED while
// Node loads the agent), and a port already in use is known at once. Requests that arrive before
// the REST server attaches its handler wait for it and are then served in order. The gRPC/Connect
// TCP port and Unix socket are bound here too (held until that server loads). Only node:http,
// node:net and the listener limits are loaded here (and, with --tls-cert, src/tls, by main.ts).
//
// With TLS (--tls-cert) the external port is a TCP listener whose connections pass a TLS front
// (src/tls/tls-front.ts) and are then handed to the HTTP server, which never listens itself: it
// keeps the same header, request and keep-alive limits. REST offers HTTP/1.1 only through ALPN
// (its routes are written for node:http; an HTTP/2 client falls back to HTTP/1.1).
import http from "node:http";
import net, { type AddressInfo, type Socket } from "node:net";
import type { Logger } from "pino";
import type { ListenerTls } from "../../tls/listener-tls.js";
import type { TlsFront } from "../../tls/tls-front.js";
import { EarlyNetListener } from "../listener/early-net-listener.js";
import { answerClientError, type ListenerLimits, listenerLimits } from "../listener/limits.js";
import type { BoundUnixSocket } from "../listener/unix-socket.js";

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export class EarlyListener {
  readonly server: http.Server;
  /** Resolves once the port is bound; rejects with the listen error (e.g. EADDRINUSE). */
  readonly listening: Promise<http.Server>;
  /** Serves TLS only (--tls-cert). */
  readonly tls: boolean;
  private handler: Handler | null = null;
  private waiting: [http.IncomingMessage, http.ServerResponse][] = [];
  /** With TLS: the bound TCP listener and the TLS front its connections go through. */
  readonly #tcp: net.Server | null = null;
  readonly #front: TlsFront | null = null;
  #log: Logger | null = null;

  constructor(
    host: string,
    port: number,
    readonly limits: ListenerLimits = listenerLimits(),
    tls: ListenerTls | null = null,
  ) {
    this.tls = tls !== null;
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
    let bound: net.Server = this.server;
    if (tls) {
      const tcp = net.createServer({ pauseOnConnect: true });
      tcp.maxConnections = limits.maxConnections;
      const front = tls.front({
        alpn: ["http/1.1"],
        handshakeTimeoutMs: limits.headersTimeoutMs,
        log: { debug: (...args: unknown[]) => this.#log?.debug(...(args as [object, string])) } as Logger,
        onSecure: (socket) => this.server.emit("connection", socket),
      });
      tcp.on("connection", (socket: Socket) => front.handleConnection(socket));
      // Node runs the header and request timeouts of the connections it tracks from the
      // server's "listening" event; this one never listens (connections are handed over).
      this.server.emit("listening");
      this.#tcp = tcp;
      this.#front = front;
      bound = tcp;
    }
    this.listening = new Promise((resolve, reject) => {
      bound.once("error", reject);
      bound.listen(port, host, () => {
        bound.off("error", reject);
        resolve(this.server);
      });
    });
    // Awaited later (by the REST server); an agent that stops before that must not crash on it.
    this.listening.catch(() => {});
  }

  /** Hands every request, the waiting ones first, to `handler`; `log` gets TLS handshake failures. */
  attach(handler: Handler, log?: Logger): void {
    this.#log = log ?? null;
    this.handler = handler;
    for (const [req, res] of this.waiting.splice(0)) handler(req, res);
  }

  /** The bound address (after `listening`). */
  address(): AddressInfo {
    return (this.#tcp ?? this.server).address() as AddressInfo;
  }

  /** Stops accepting and closes every connection (idle or not). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#tcp) {
        this.#front?.close();
        this.#tcp.close(() => resolve());
        // Never listening: close() only stops its timers.
        this.server.close();
      } else {
        this.server.close(() => resolve());
      }
      this.server.closeAllConnections();
    });
  }
}

export interface EarlyListeners {
  external: EarlyListener;
  internal: EarlyListener;
  grpcTcp: EarlyNetListener;
  grpcUnix: EarlyNetListener<BoundUnixSocket>;
  /** TLS of the external REST and gRPC TCP listeners (--tls-cert), or null: plaintext. */
  tls: ListenerTls | null;
  /** Settles when every listener is bound; rejects with the first bind error. */
  readonly allListening: Promise<unknown>;
}

export function listenEarly(
  o: {
    httpHost: string;
    internalHttpHost: string;
    externalHttpPort: number;
    internalHttpPort: number;
    grpcPort: number;
    grpcSocket: string;
    maxConnections: number;
    maxMessageBytes: number;
  },
  tls: ListenerTls | null = null,
): EarlyListeners {
  const limits = listenerLimits(o);
  // The internal port stays plaintext: it serves the host (loopback by default).
  const external = new EarlyListener(o.httpHost, o.externalHttpPort, limits, tls);
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
  return { external, internal, grpcTcp, grpcUnix, tls, allListening };
}
