// A REST route: method, path, whether it needs a JWT, and its handler (which only translates
// between HTTP and a core operation).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { ComputeApi } from "../compute-api.js";

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  api: ComputeApi;
  log: Logger;
}

export interface Route {
  method: "GET" | "POST" | "DELETE";
  path: string;
  /** External routes behind the JWT layer; probes and scrapes stay open. */
  auth: boolean;
  handle(ctx: RouteContext): Promise<void>;
}
