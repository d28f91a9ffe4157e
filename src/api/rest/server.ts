// The REST gateway: a node:http server over a route table. Every request gets an x-request-id
// (kept from the client when given) and one log line; unknown paths 404, wrong methods 405,
// errors as {"error": "..."}. Who may call a route is decided from the headers and the peer
// before its body is read: a token on `auth` routes when keys exist; without keys, `mutating`
// routes only for loopback clients and, on an mTLS listener, certified ones (403 with how to
// configure keys) unless --insecure-no-auth.
import { randomUUID } from "node:crypto";
import type http from "node:http";
import type { Logger } from "pino";
import { OperationError } from "../../errors/operation-error.js";
import type { ListenerTls } from "../../tls/listener-tls.js";
import type { ComputeApi } from "../compute-api.js";
import { type ListenerLimits, listenerLimits } from "../listener/limits.js";
import { CONFIGURE_KEYS_HINT, isLoopback } from "../listener/peer-address.js";
import { EarlyListener } from "./early-listener.js";
import { sendThrown } from "./http-io.js";
import type { Route } from "./route.js";
import { matchRoute } from "./router.js";

export interface RequestAuthorizer {
  verify(authorization: string | undefined): Promise<void>;
  /** A token verified recently (no asynchronous check needed). */
  remembered?(authorization: string | undefined): boolean;
}

export interface RestServerOptions {
  name: string;
  host: string;
  port: number;
  routes: readonly Route[];
  api: ComputeApi;
  log: Logger;
  authorizer: RequestAuthorizer | null;
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

/** Throws or rejects (401/403/400) unless this request may reach `route`; synchronous when no token is checked. */
function admit(
  route: Route,
  req: http.IncomingMessage,
  opts: Pick<RestServerOptions, "authorizer" | "insecureNoAuth" | "tls">,
): Promise<void> | undefined {
  const token = req.headers.authorization;
  if (route.auth && opts.authorizer) {
    return opts.authorizer.remembered?.(token) ? undefined : opts.authorizer.verify(token);
  }
  if (!route.mutating || isLoopback(req.socket.remoteAddress)) return;
  // mTLS without keys: the client CA is the credential (docs/security.md).
  if (!opts.authorizer && opts.tls?.requireClientCertificate) return;
  // The internal server has no token layer of its own; remote callers need one when keys exist.
  if (opts.authorizer) return opts.authorizer.remembered?.(token) ? undefined : opts.authorizer.verify(token);
  if (opts.insecureNoAuth) return;
  throw new OperationError(
    "permission_denied",
    `${route.method} ${route.path} from ${req.socket.remoteAddress ?? "an unknown address"}: ${CONFIGURE_KEYS_HINT}`,
  );
}

export interface RestServer {
  port: number;
  close(): Promise<void>;
}

export async function startRestServer(opts: RestServerOptions): Promise<RestServer> {
  const log = opts.log.child({ server: opts.name });
  const limits = opts.limits ?? opts.early?.limits ?? listenerLimits();
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
      const admitting = admit(match.route, req, opts);
      if (admitting) await admitting;
      await match.route.handle({
        req,
        res,
        url,
        api: opts.api,
        log: log.child({ request_id: requestId }),
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
