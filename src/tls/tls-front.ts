// TLS in front of an API listener: takes the accepted TCP connections (paused), runs the TLS
// handshake with the current certificate (reloading-certificate.ts: a rotation reaches the next
// handshake through setSecureContext, open connections keep theirs) and hands each secured
// connection on with the protocol ALPN chose. With a client CA, a client certificate signed by
// it is required: without one, or with another CA's, the handshake fails.
//
// A client speaking plaintext to this port is refused at its first byte (a TLS connection starts
// with a handshake record, 0x16): it gets an HTTP/1.1 400 saying the port needs TLS and is
// closed, instead of a handshake error or a wait. Handshakes are bounded in time, and close()
// ends those still running.
import type net from "node:net";
import tls from "node:tls";
import type { Logger } from "pino";
import { secureContextOptions } from "./certificate-pair.js";
import type { ReloadingCertificate } from "./reloading-certificate.js";

/** The first byte of every TLS connection: a handshake record. */
const TLS_HANDSHAKE_RECORD = 0x16;

const PLAINTEXT_REFUSAL =
  "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 80\r\n\r\n" +
  "this port requires TLS: use https:// (curl --cacert, grpcurl without -plaintext)\n";

export type AlpnProtocol = "h2" | "http/1.1";

export interface TlsFrontOptions {
  certificate: ReloadingCertificate;
  /** ALPN protocols offered, preferred first. A client without ALPN gets `false` in `onSecure`. */
  alpn: readonly AlpnProtocol[];
  /** Require a client certificate signed by the pair's client CA (the pair must have one). */
  requireClientCertificate: boolean;
  /** From the first byte to the end of the handshake. */
  handshakeTimeoutMs: number;
  log: Logger;
  /** Gets every connection whose handshake succeeded, with ALPN's choice. */
  onSecure(socket: tls.TLSSocket, protocol: AlpnProtocol | false): void;
}

export interface TlsFront {
  /** Takes over one accepted TCP connection (paused or not). */
  handleConnection(socket: net.Socket): void;
  /** Connections still before the end of their handshake. */
  readonly handshakingCount: number;
  /** Ends the handshakes in progress and stops following the certificate. */
  close(): void;
}

export function createTlsFront(opts: TlsFrontOptions): TlsFront {
  const { log } = opts;
  const pair = opts.certificate.current;
  if (opts.requireClientCertificate && !pair.clientCa)
    throw new Error("client certificates are required but no client CA is configured");
  const server = tls.createServer({
    ...secureContextOptions(pair),
    ALPNProtocols: [...opts.alpn],
    requestCert: opts.requireClientCertificate,
    rejectUnauthorized: opts.requireClientCertificate,
    handshakeTimeout: opts.handshakeTimeoutMs,
    minVersion: "TLSv1.2",
  });
  const unsubscribe = opts.certificate.subscribe((next) =>
    server.setSecureContext(secureContextOptions(next)),
  );
  /** Raw connections from accept until their handshake ends, by peer address and port. */
  const handshaking = new Map<string, net.Socket>();
  const peerKey = (s: net.Socket) => `${s.remoteAddress}|${s.remotePort}`;

  server.on("secureConnection", (socket: tls.TLSSocket) => {
    handshaking.delete(peerKey(socket));
    const protocol = socket.alpnProtocol;
    opts.onSecure(socket, protocol === "h2" || protocol === "http/1.1" ? protocol : false);
  });
  server.on("tlsClientError", (err, socket) => {
    log.debug({ err, peer: socket.remoteAddress }, "TLS handshake failed");
    socket.destroy();
  });

  const refusePlaintext = (socket: net.Socket) => {
    log.debug({ peer: socket.remoteAddress }, "plaintext client on a TLS port refused");
    socket.end(PLAINTEXT_REFUSAL);
    // A peer that never reads the answer must not keep the socket.
    setTimeout(() => socket.destroy(), 1000).unref();
  };

  return {
    handleConnection(socket) {
      const key = peerKey(socket);
      handshaking.set(key, socket);
      socket.once("close", () => {
        if (handshaking.get(key) === socket) handshaking.delete(key);
      });
      socket.on("error", (err) => log.debug({ err }, "API connection error before TLS"));
      const timer = setTimeout(() => socket.destroy(), opts.handshakeTimeoutMs);
      timer.unref();
      socket.once("data", (first: Buffer) => {
        clearTimeout(timer);
        socket.pause();
        if (first[0] !== TLS_HANDSHAKE_RECORD) return refusePlaintext(socket);
        // The TLS socket reads what was read here first, then the handle.
        socket.unshift(first);
        server.emit("connection", socket);
      });
      socket.resume();
    },
    get handshakingCount() {
      return handshaking.size;
    },
    close() {
      unsubscribe();
      for (const socket of handshaking.values()) socket.destroy();
      handshaking.clear();
    },
  };
}
