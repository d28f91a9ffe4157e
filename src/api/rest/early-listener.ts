// The REST ports are bound first thing at agent start, before the rest of the agent is loaded:
// probes and control planes can connect earlier (instead of getting ECONNREFUSED while
// Node loads the agent), and a port already in use is known at once. Requests that arrive before
// the REST server attaches its handler wait for it and are then served in order. Only node:http
// is loaded here.
import http from "node:http";

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export class EarlyListener {
  readonly server: http.Server;
  /** Resolves once the port is bound; rejects with the listen error (e.g. EADDRINUSE). */
  readonly listening: Promise<http.Server>;
  private handler: Handler | null = null;
  private waiting: [http.IncomingMessage, http.ServerResponse][] = [];

  constructor(host: string, port: number) {
    this.server = http.createServer((req, res) => {
      if (this.handler) this.handler(req, res);
      else this.waiting.push([req, res]);
    });
    this.server.keepAliveTimeout = 5000;
    this.server.on("clientError", (_err, socket) => socket.destroy());
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
}

export function listenEarly(o: {
  httpHost: string;
  externalHttpPort: number;
  internalHttpPort: number;
}): EarlyListeners {
  return {
    external: new EarlyListener(o.httpHost, o.externalHttpPort),
    internal: new EarlyListener(o.httpHost, o.internalHttpPort),
  };
}
