// The limits every API listener applies, so that no client can hold the agent hostage: how big
// headers and bodies may be, how long a client may take to send them, how many connections may
// be open, and what a connection that does not speak HTTP gets. One place, shared by the REST
// servers and the gRPC/Connect listeners (TCP and the Unix socket). Loaded before the ports are
// bound: node:net types only.
import type { Socket } from "node:net";

export interface ListenerLimits {
  /** Request line plus headers (HTTP/1.1), header list (HTTP/2); larger: 431. Node's default. */
  readonly maxHeaderBytes: number;
  /** From the first byte to the end of the headers (HTTP/1.1: 408; before the protocol is known: closed). */
  readonly headersTimeoutMs: number;
  /** From the first byte to the end of the request body, on both protocols. */
  readonly requestTimeoutMs: number;
  /** Open connections per listener; further ones are closed at once. `--max-connections`. */
  readonly maxConnections: number;
  /** Largest REST body or gRPC/Connect message (the message, not its 5-byte prefix). `--max-message-bytes`. */
  readonly maxMessageBytes: number;
  /** An HTTP/2 connection without any open stream for this long is closed (GOAWAY). */
  readonly idleSessionTimeoutMs: number;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;

export function listenerLimits(
  o: { maxConnections?: number; maxMessageBytes?: number } = {},
): ListenerLimits {
  return {
    maxHeaderBytes: 16 * 1024,
    headersTimeoutMs: DEFAULT_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: 60_000,
    maxConnections: o.maxConnections ?? 1024,
    maxMessageBytes: o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    idleSessionTimeoutMs: 5 * 60_000,
  };
}

const STATUS_LINES: Record<number, string> = {
  400: "400 Bad Request",
  408: "408 Request Timeout",
  431: "431 Request Header Fields Too Large",
};

/**
 * What a connection that failed HTTP/1.1 parsing gets: an answer (431 for oversized headers,
 * 408 for a timeout, 400 for anything else) and the connection closed. Node's servers do this
 * only when nobody listens for `clientError`; our listeners log, so they answer here.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (socket.writable && !socket.destroyed) {
    const status =
      err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    socket.end(`HTTP/1.1 ${STATUS_LINES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
  // end() flushes the answer; a peer that never reads it must not keep the socket.
  setTimeout(() => socket.destroy(), 1000).unref();
}
