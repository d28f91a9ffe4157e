// The REST gateway: a node:http server over a route table. Every request gets an x-request-id
// (kept from the client when given) and one log line; unknown paths 404, wrong methods 405,
// errors as {"error": "..."}. Who may call a route is decided from the headers and the peer
// before its body is read, by the access policy all listeners share (api/auth/access-policy.ts;
// on an mTLS listener without keys, the client certificate counts as the loopback rule).
import { randomUUID } from "node:crypto";
import type http from "node:http";
import type { Logger } from "pino";
import type { ListenerTls } from "../../tls/listener-tls.js";
import { type Authorizer, createAccessPolicy } from "../auth/access-policy.js";
import type { ComputeApi } from "../compute-api.js";
import { type ListenerLimits, listenerLimits } from "../listener/limits.js";
import { EarlyListener } from "./early-listener.js";
import { sendThrown } from "./http-io.js";
import type { Route } from "./route.js";
import { matchRoute } from "./router.js";

export interface RestServerOptions {
  name: string;
  host: string;
  port: number;
  routes: readonly Route[];
  api: ComputeApi;
  log: Logger;
  /** null: no JWT keys. */
  authorizer: Authorizer | null;
  /** Without keys, serve `mutating` routes to non-loopback clients too. */
  insecureNoAuth?: boolean;
  limits?: ListenerLimits;
  /** The port as bound at agent start (early-listener.ts); without it the server binds now. */
  early?: EarlyListener;
  /**
   * TLS of this listener (the `early` listener was bound with the same); with a client CA every
   * client holds a certificate it signed, which without JWT keys counts as the loopback rule.
   */
  tls?: ListenerTls | null;
}

export interface RestServer {
  port: number;
  close(): Promise<void>;
}

export async function startRestServer(opts: RestServerOptions): Promise<RestServer> {
  const log = opts.log.child({ server: opts.name });
  const limits = opts.limits ?? opts.early?.limits ?? listenerLimits();
  const admit = createAccessPolicy({ ...opts, certifiedPeers: opts.tls?.requireClientCertificate === true });
  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const t0 = performance.now();
    const header = req.headers["x-request-id"];
    const requestId = (Array.isArray(header) ? header[0] : header) || randomUUID();
    res.setHeader("x-request-id", requestId);
    const url = new URL(req.url ?? "/", "http://localhost");
    res.once("finish", () =>
      log.info(
        {
          request_id: requestId,
          method: req.method,
          path: url.pathname,
          status: res.statusCode,
          duration_ms: Math.round((performance.now() - t0) * 10) / 10,
        },
        "request",
      ),
    );
    const match = matchRoute(opts.routes, req.method ?? "GET", url.pathname);
    if ("status" in match) {
      res.writeHead(match.status, { "content-length": 0 });
      res.end();
      return;
    }
    try {
      const { route } = match;
      const admitting = admit(
        { name: `${route.method} ${route.path}`, auth: route.auth, mutating: route.mutating === true },
        req.headers.authorization,
        () => req.socket.remoteAddress,
      );
      if (admitting) await admitting;
      let requestLog: Logger | undefined;
      await match.route.handle({
        req,
        res,
        url,
        api: opts.api,
        // Made on first use: most answers (probes, scrapes) never log beyond the request line.
        get log() {
          requestLog ??= log.child({ request_id: requestId });
          return requestLog;
        },
        params: match.params,
        maxBodyBytes: limits.maxMessageBytes,
      });
    } catch (err) {
      // An unread body is not drained: the connection closes after the answer.
      if (!req.complete && !res.headersSent) res.setHeader("connection", "close");
      if (!res.headersSent) sendThrown(res, err);
      else res.destroy();
    }
  };
  const listener = opts.early ?? new EarlyListener(opts.host, opts.port, limits, opts.tls ?? null);
  await listener.listening;
  listener.attach(handler, log);
  const port = listener.address().port;
  log.info(
    {
      host: opts.host,
      port,
      tls: listener.tls,
      client_certificates: opts.tls?.requireClientCertificate ?? false,
    },
    "HTTP server listening",
  );
  return { port, close: () => listener.close() };
}
