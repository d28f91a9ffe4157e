// A REST route: method, path, who may call it, and its handler (which only translates between
// HTTP and a core operation). The routes themselves: route-table.ts.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { ComputeApi } from "../compute-api.js";

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  api: ComputeApi;
  log: Logger;
  /** Values of the route's path parameter (`/extension_server/{filename}`), percent-decoded. */
  params: Record<string, string>;
  /** Largest request body (--max-message-bytes). */
  maxBodyBytes: number;
}

export interface Route {
  method: "GET" | "POST" | "DELETE";
  /** Exact path, or a prefix ending in one `{name}` parameter that takes the rest of the path. */
  path: string;
  /** External routes behind the JWT layer; probes and scrapes stay open. */
  auth: boolean;
  /**
   * Changes the compute: without JWT keys only loopback clients may call it (403 for others,
   * unless --insecure-no-auth); on the internal server, others need a token when keys exist.
   */
  mutating?: boolean;
  handle: RouteHandler;
}

/** Translates between HTTP and a core operation (the ComputeApi facade). */
export type RouteHandler = (ctx: RouteContext) => Promise<void>;
