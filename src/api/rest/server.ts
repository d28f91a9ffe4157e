// The REST gateway: a node:http server over a route table. Every request gets an x-request-id
// (kept from the client when given) and one log line; unknown paths 404, wrong methods 405,
// errors as {"error": "..."}.
import { randomUUID } from "node:crypto";
import type http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { ComputeApi } from "../compute-api.js";
import { EarlyListener } from "./early-listener.js";
import { sendThrown } from "./http-io.js";
import type { Route } from "./route.js";
import { matchRoute } from "./router.js";

export interface RequestAuthorizer {
  verify(authorization: string | undefined): Promise<void>;
}

export interface RestServerOptions {
  name: string;
  host: string;
  port: number;
  routes: readonly Route[];
  api: ComputeApi;
  log: Logger;
  authorizer: RequestAuthorizer | null;
  /** The port as bound at agent start (early-listener.ts); without it the server binds now. */
  early?: EarlyListener;
}

export interface RestServer {
  port: number;
  close(): Promise<void>;
}

export async function startRestServer(opts: RestServerOptions): Promise<RestServer> {
  const log = opts.log.child({ server: opts.name });
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
      if (match.route.auth && opts.authorizer) await opts.authorizer.verify(req.headers.authorization);
      await match.route.handle({
        req,
        res,
        url,
        api: opts.api,
        log: log.child({ request_id: requestId }),
        params: match.params,
      });
    } catch (err) {
      if (!res.headersSent) sendThrown(res, err);
      else res.destroy();
    }
  };
  const listener = opts.early ?? new EarlyListener(opts.host, opts.port);
  const server = await listener.listening;
  listener.attach(handler);
  const port = (server.address() as AddressInfo).port;
  log.info({ host: opts.host, port }, "HTTP server listening");
  return {
    port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
