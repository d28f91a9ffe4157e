// One listening socket (TCP port or Unix socket) that serves the same request handler over
// HTTP/2 cleartext (gRPC, Connect, gRPC-Web) and HTTP/1.1 (Connect unary JSON and gRPC-Web from
// curl): each connection is sniffed and handed to an http2 or an http1 server that never listen
// themselves. Every connection is tracked so close() cannot hang on idle keep-alive sessions.
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { Logger } from "pino";
import { sniffProtocol, type WireProtocol } from "./sniff-protocol.js";

export type RequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Serves an HTTP/2 stream itself and returns true, or returns false to leave it to the handler. */
export type StreamClaim = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;

export interface DualProtocolListener {
  readonly server: net.Server;
  /** Number of open connections (both protocols), for leak checks. */
  readonly connectionCount: number;
  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs` (HTTP/2 sessions get a
   * GOAWAY, idle HTTP/1.1 connections are closed at once), then destroys whatever is left.
   */
  close(graceMs: number): Promise<void>;
}

/** How long a new connection may stay silent (or send only part of the HTTP/2 preface). */
export const SNIFF_TIMEOUT_MS = 10_000;

export function createDualProtocolListener(
  handler: RequestHandler,
  log: Logger,
  claim?: StreamClaim,
): DualProtocolListener {
  const h2 = claim ? http2.createServer() : http2.createServer(handler);
  if (claim) {
    // Streams not claimed get Node's compatibility (req, res) layer from a second server that
    // never listens: emitting "stream" on it runs that layer and then `handler`.
    const compat = http2.createServer(handler);
    h2.on(
      "stream",
      (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
        if (!claim(stream, headers)) compat.emit("stream", stream, headers, ...rest);
      },
    );
  }
  const h1 = http.createServer(handler as http.RequestListener);
  /** Every open connection and what it turned out to speak (`null` while still sniffing). */
  const sockets = new Map<net.Socket, WireProtocol | null>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const inFlight = new Map<net.Socket, number>();
  let closing = false;

  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (closing) session.close();
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
  // A protocol error on one connection must not take the agent down.
  for (const s of [h1, h2]) s.on("clientError", (err) => log.debug({ err }, "API client error"));
  h2.on("sessionError", (err) => log.debug({ err }, "API HTTP/2 session error"));

  const server = net.createServer(async (socket) => {
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
      protocol = await sniffProtocol(socket, SNIFF_TIMEOUT_MS);
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
  });

  return {
    server,
    get connectionCount() {
      return sockets.size;
    },
    async close(graceMs) {
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
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
      await stopped;
    },
  };
}
