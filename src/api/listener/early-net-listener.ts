// A listening socket bound before its server exists: the gRPC/Connect TCP port and Unix socket
// are bound at agent start, with the REST ports, so a port in use stops the agent before the data
// directory is touched, yet the gRPC libraries still load only after the cold start. Connections
// accepted before the server attaches are held, unread (paused), and handed over in order.
// Only node:net and unix-socket.ts are loaded here.
import net from "node:net";
import type { ListenerLimits } from "./limits.js";
import { type BoundUnixSocket, listenUnixSocket } from "./unix-socket.js";

export type ConnectionHandler = (socket: net.Socket) => void;

export class EarlyNetListener<Bound = void> {
  /** Every connection arrives paused (`pauseOnConnect`); its handler resumes it. */
  readonly server: net.Server;
  /** Resolves once bound; rejects with the bind error (EADDRINUSE, a refused socket path). */
  readonly listening: Promise<Bound>;
  #handler: ConnectionHandler | null = null;
  #waiting: net.Socket[] = [];

  private constructor(limits: ListenerLimits, bind: (server: net.Server) => Promise<Bound>) {
    this.server = net.createServer({ pauseOnConnect: true }, (socket) => {
      if (this.#handler) this.#handler(socket);
      else this.#waiting.push(socket);
    });
    this.server.maxConnections = limits.maxConnections;
    this.listening = bind(this.server);
    // Awaited later (by the gRPC server); an agent that stops before that must not crash on it.
    this.listening.catch(() => {});
  }

  static tcp(host: string, port: number, limits: ListenerLimits): EarlyNetListener {
    return new EarlyNetListener(
      limits,
      (server) =>
        new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(port, host, () => {
            server.off("error", reject);
            resolve();
          });
        }),
    );
  }

  /** The private Unix socket (mode 0600 in a 0700 directory, see unix-socket.ts). */
  static unix(socketPath: string, limits: ListenerLimits): EarlyNetListener<BoundUnixSocket> {
    return new EarlyNetListener(limits, (server) => listenUnixSocket(server, socketPath));
  }

  /** Hands every connection, the waiting ones first, to `handler`. */
  attach(handler: ConnectionHandler): void {
    this.#handler = handler;
    for (const socket of this.#waiting.splice(0)) {
      if (!socket.destroyed) handler(socket);
    }
  }

  /** Stops accepting and drops connections nobody took over. */
  close(): Promise<void> {
    for (const socket of this.#waiting.splice(0)) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
