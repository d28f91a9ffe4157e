// One listening socket (TCP port or Unix socket) that serves the same request handler over
// HTTP/2 cleartext (gRPC, Connect, gRPC-Web) and HTTP/1.1 (Connect unary JSON and gRPC-Web from
// curl): each connection is sniffed and handed to an http2 or an http1 server that never listen
// themselves. Every connection is tracked so close() cannot hang on idle keep-alive sessions.
// The limits of limits.ts apply to both protocols: header size, header and request timeouts, an
// answer and a close for whatever is not HTTP, idle HTTP/2 connections closed.
import http from "node:http";
import http2 from "node:http2";
import type net from "node:net";
import type { Logger } from "pino";
import { answerClientError, DEFAULT_HEADERS_TIMEOUT_MS, type ListenerLimits } from "./limits.js";
import { sniffProtocol, type WireProtocol } from "./sniff-protocol.js";

export type RequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Serves an HTTP/2 stream itself and returns true, or returns false to leave it to the handler. */
export type StreamClaim = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;

export interface DualProtocolListener {
  /**
   * Takes over one accepted connection (paused or not): sniffs it and serves it. A `protocol`
   * known already (TLS's ALPN) skips the sniffing.
   */
  handleConnection(socket: net.Socket, protocol?: WireProtocol): void;
  /** Number of open connections (both protocols), for leak checks. */
  readonly connectionCount: number;
  /**
   * Stops serving new connections, lets in-flight requests finish for up to `graceMs` (HTTP/2
   * sessions get a GOAWAY, idle HTTP/1.1 connections are closed at once), then destroys whatever
   * is left. The listening socket itself belongs to the caller.
   */
  close(graceMs: number): Promise<void>;
}

/**
 * How long a new connection may stay silent (or send only part of the HTTP/2 preface) before it
 * is closed: the listeners' default headers timeout.
 */
export const SNIFF_TIMEOUT_MS = DEFAULT_HEADERS_TIMEOUT_MS;

export interface DualProtocolOptions {
  handler: RequestHandler;
  log: Logger;
  claim?: StreamClaim;
  limits: ListenerLimits;
}

/** RFC 9113's measure of a header list: each field's name and value plus 32 octets. */
function headerListBytes(headers: http2.IncomingHttpHeaders): number {
  let bytes = 0;
  for (const name in headers) {
    const value = headers[name];
    if (typeof value === "string") bytes += name.length + value.length + 32;
    else if (Array.isArray(value)) for (const v of value) bytes += name.length + v.length + 32;
  }
  return bytes;
}

export function createDualProtocolListener(opts: DualProtocolOptions): DualProtocolListener {
  const { handler, log, claim, limits } = opts;
  const h2Options: http2.ServerOptions = { settings: { maxHeaderListSize: limits.maxHeaderBytes } };
  // Streams go through `claim` first (the unary fast path); the rest get Node's compatibility
  // (req, res) layer from a second server that never listens: emitting "stream" on it runs that
  // layer and then `handler`. Node advertises maxHeaderListSize but does not enforce it: an
  // oversized header list is answered 431 here, before either path sees the stream.
  const h2 = http2.createServer(h2Options);
  const compat = http2.createServer(h2Options, handler);
  h2.on(
    "stream",
    (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
      if (headerListBytes(headers) > limits.maxHeaderBytes) {
        stream.on("error", () => {});
        stream.respond({ ":status": 431 }, { endStream: true });
        return;
      }
      if (!claim?.(stream, headers)) compat.emit("stream", stream, headers, ...rest);
    },
  );
  const h1 = http.createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: 1000,
    },
    handler as http.RequestListener,
  );
  // Node tracks connections for the header and request timeouts from the server's "listening"
  // event; this server never listens itself (connections are handed over), so start it here.
  h1.emit("listening");
  /** Every open connection and what it turned out to speak (`null` while still sniffing). */
  const sockets = new Map<net.Socket, WireProtocol | null>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const inFlight = new Map<net.Socket, number>();
  let closing = false;

  // Idle HTTP/2 connections are found by one sweep a second, without a timer or a listener per
  // stream (a unary call costs a few tens of microseconds; those would show). A connection that
  // opens no stream within the headers timeout, or no new one for the idle timeout, gets a
  // GOAWAY: streams still open (a quiet WatchStatus) finish on their own, new calls go to a new
  // connection. (Slow request bodies are cut by request-deadlines.ts, where bodies are read.)
  /** Per session: when its last stream started (negative: none yet, the headers timeout applies). */
  const lastStream = new Map<http2.ServerHttp2Session, { at: number }>();
  // The sweep runs only while HTTP/2 sessions are open: an agent nobody talks to over HTTP/2
  // (an idle compute) has no timer waking it every second.
  let sweep: NodeJS.Timeout | null = null;
  const sweepIdle = () => {
    const now = Date.now();
    for (const [session, { at }] of lastStream) {
      const limit = at < 0 ? limits.headersTimeoutMs : limits.idleSessionTimeoutMs;
      if (now - Math.abs(at) > limit && !session.closed) session.close();
    }
  };
  const stopSweep = () => {
    if (sweep) clearInterval(sweep);
    sweep = null;
  };

  h2.on("session", (session) => {
    sessions.add(session);
    const last = { at: -Date.now() };
    lastStream.set(session, last);
    if (!sweep) {
      sweep = setInterval(sweepIdle, 1000);
      sweep.unref();
    }
    session.once("close", () => {
      sessions.delete(session);
      lastStream.delete(session);
      if (lastStream.size === 0) stopSweep();
    });
    if (closing) session.close();
    session.on("stream", () => {
      last.at = Date.now();
    });
  });
  h1.on("request", (_req, res: http.ServerResponse) => {
    const socket = res.socket;
    if (!socket) return;
    inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
    res.once("close", () => {
      const left = (inFlight.get(socket) ?? 1) - 1;
      inFlight.set(socket, left);
      if (closing && left === 0) socket.destroy();
    });
  });
  // A protocol error on one connection must not take the agent down; it gets an answer (400,
  // 408, 431) and is closed.
  h1.on("clientError", (err: NodeJS.ErrnoException, socket: net.Socket) => {
    log.debug({ err }, "API client error");
    answerClientError(err, socket);
  });
  h2.on("sessionError", (err) => log.debug({ err }, "API HTTP/2 session error"));

  const handleConnection = async (socket: net.Socket, known?: WireProtocol) => {
    sockets.set(socket, null);
    socket.once("close", () => {
      sockets.delete(socket);
      inFlight.delete(socket);
    });
    socket.on("error", (err) => log.debug({ err }, "API connection error"));
    if (closing) {
      socket.destroy();
      return;
    }
    let protocol: WireProtocol;
    try {
      // Listeners accept with pauseOnConnect (early-net-listener.ts).
      socket.resume();
      protocol = known ?? (await sniffProtocol(socket, limits.headersTimeoutMs));
    } catch (err) {
      log.debug({ err }, "API connection dropped before its first request");
      socket.destroy();
      return;
    }
    if (closing) {
      socket.destroy();
      return;
    }
    sockets.set(socket, protocol);
    if (protocol === "http2") {
      // The http2 session reads from the socket handle itself and picks up the unshifted bytes.
      h2.emit("connection", socket);
    } else {
      // The http1 parser reads through the stream, which sniffing left paused.
      h1.emit("connection", socket);
      socket.resume();
    }
  };

  return {
    handleConnection: (socket, protocol) => void handleConnection(socket, protocol),
    get connectionCount() {
      return sockets.size;
    },
    async close(graceMs) {
      closing = true;
      for (const session of sessions) session.close();
      for (const [socket, protocol] of sockets) {
        // Still sniffing, or HTTP/1.1 with nothing in flight: nothing to wait for.
        if (protocol !== "http2" && !inFlight.get(socket)) socket.destroy();
      }
      const allClosed = Promise.all(
        [...sockets.keys()].map((s) =>
          s.destroyed ? Promise.resolve() : new Promise((r) => s.once("close", r)),
        ),
      );
      const timer = setTimeout(() => {
        for (const session of sessions) session.destroy();
        for (const socket of sockets.keys()) socket.destroy();
      }, graceMs);
      await allClosed;
      clearTimeout(timer);
      stopSweep();
      // The checking interval of the HTTP/1.1 timeouts.
      h1.close();
    },
  };
}
