// Tells HTTP/2 prior-knowledge connections (gRPC clients) from HTTP/1.1 ones (curl, browsers'
// gRPC-Web) by their first bytes: every HTTP/2 cleartext connection opens with the fixed preface.
import type { Socket } from "node:net";

export const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export type WireProtocol = "http2" | "http1";

/**
 * Reads until the protocol is known, then puts the bytes back (`unshift`) and leaves the socket
 * paused, so the server it is handed to sees the connection from its first byte. Rejects if the
 * peer closes, errs or stays silent for `timeoutMs` before that.
 */
export function sniffProtocol(socket: Socket, timeoutMs: number): Promise<WireProtocol> {
  return new Promise((resolve, reject) => {
    let head: Buffer = Buffer.alloc(0);
    const finish = (outcome: WireProtocol | Error) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      socket.off("error", onError);
      if (outcome instanceof Error) return reject(outcome);
      socket.pause();
      socket.unshift(head);
      resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, HTTP2_PREFACE.length);
      const prefaceSoFar = head.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
      if (!prefaceSoFar) finish("http1");
      else if (n === HTTP2_PREFACE.length) finish("http2");
    };
    const onEnd = () => finish(new Error("connection closed before its protocol was known"));
    const onError = (err: Error) => finish(err);
    const timer = setTimeout(() => finish(new Error(`no request bytes within ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
    socket.once("error", onError);
  });
}
