// The REST routes, readable top to bottom (as Neon's http/server.rs): method, path, who may call
// it, and what it answers. A route with logic of its own (query parsing, streaming, its own error
// shape) has a module in routes/; the rest is one line here over the ComputeApi facade.
// External: control plane, probes, scrapers (JWT on `auth` routes). Internal: Postgres extensions
// and local tools, no JWT.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { readJson, sendJson, sendText } from "./http-io.js";
import type { Route, RouteContext, RouteHandler } from "./route.js";
import { databaseSchema } from "./routes/database-schema.js";
import { extensionServer } from "./routes/extension-server.js";
import { openapiDocument } from "./routes/openapi.js";
import { promote } from "./routes/promote.js";
import { terminate } from "./routes/terminate.js";

/** GET /autoscaling_metrics: the exporter's answer, forwarded (HTTP in, HTTP out: not the facade's). */
export type AutoscalingMetricsForwarder = (
  req: IncomingMessage,
  res: ServerResponse,
  /** The request's logger, made on first call. */
  log: () => Logger,
) => Promise<void>;

const noExporter: AutoscalingMetricsForwarder = async (_req, res) => {
  sendJson(res, 502, { error: "no metrics exporter" });
};

type Access = Pick<Route, "auth" | "mutating">;
/** Probes and scrapes: anyone. */
const OPEN: Access = { auth: false };
/** Reads the control plane makes: JWT when keys exist. */
const READ: Access = { auth: true };
/** Changes the compute: JWT when keys exist, loopback only without keys. */
const CHANGE: Access = { auth: true, mutating: true };
/** Internal changes (Postgres extensions, local tools): no JWT, loopback only without keys. */
const LOCAL_CHANGE: Access = { auth: false, mutating: true };

function route(method: Route["method"], path: string, access: Access, handle: RouteHandler): Route {
  return { method, path, ...access, handle };
}

/** Answers `status` with the JSON of what `f` returns. */
function json(status: number, f: (ctx: RouteContext) => unknown): RouteHandler {
  return async (ctx) => sendJson(ctx.res, status, await f(ctx));
}

/** Starts something and answers 202 with an empty body. */
function accepted(f: (ctx: RouteContext) => void): RouteHandler {
  return async (ctx) => {
    f(ctx);
    ctx.res.writeHead(202, { "content-length": 0 });
    ctx.res.end();
  };
}

const body = (ctx: RouteContext) => readJson(ctx.req, ctx.maxBodyBytes);

// 200 while running and Postgres answered recently (--ready-max-age-s), 503 with the reason.
const ready: RouteHandler = async ({ res, api }) => {
  const { ready, reason } = api.readiness();
  sendJson(res, ready ? 200 : 503, { ready, status: api.status().status, ...(reason ? { reason } : {}) });
};

// 200 once Postgres has been started, also while recovering (a startup probe never kills a
// recovering replica in a loop).
const startupz: RouteHandler = async ({ res, api }) => {
  const started = api.started();
  sendJson(res, started ? 200 : 503, { started, status: api.status().status });
};

const PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

export function externalRoutes(forwardAutoscalingMetrics: AutoscalingMetricsForwarder = noExporter): Route[] {
  // biome-ignore format: a table
  return [
    route("GET",    "/status",               READ,   json(200, ({ api }) => api.status())),
    route("GET",    "/metrics.json",         READ,   json(200, ({ api }) => api.timings())),
    route("GET",    "/metrics",              OPEN,   async ({ res, api }) => sendText(res, 200, PROMETHEUS_TEXT, await api.prometheusText())),
    route("POST",   "/configure",            CHANGE, json(200, async (ctx) => ctx.api.configure(await body(ctx)))),
    route("POST",   "/terminate",            CHANGE, terminate),
    route("GET",    "/ready",                OPEN,   ready),
    // The names CloudNativePG's instance manager and Kubernetes components use.
    route("GET",    "/readyz",               OPEN,   ready),
    route("GET",    "/healthz",              OPEN,   json(200, () => ({ status: "ok" }))), // never touches SQL
    route("GET",    "/startupz",             OPEN,   startupz),
    route("GET",    "/dbs_and_roles",        READ,   json(200, ({ api }) => api.dbsAndRoles())),
    route("GET",    "/database_schema",      READ,   databaseSchema),
    // A JSON *string* holding {"pg_stat_statements": [...]}, numbers as Postgres printed them (Neon).
    route("GET",    "/insights",             READ,   json(200, async ({ api }) => (await api.insights()).neonText)),
    route("POST",   "/check_writability",    CHANGE, json(200, async ({ api }) => { await api.checkWritability(); return true; })),
    route("GET",    "/info",                 READ,   json(200, ({ api }) => api.info())),
    route("GET",    "/openapi.json",         OPEN,   openapiDocument),
    route("POST",   "/promote",              CHANGE, promote),
    // The request's logger only when the forwarder logs (rarely): a scrape costs no child logger.
    route("GET",    "/autoscaling_metrics",  OPEN,   (ctx) => forwardAutoscalingMetrics(ctx.req, ctx.res, () => ctx.log)),
    // Neon's http/routes/lfc.rs: 429 while one runs.
    route("GET",    "/lfc/prewarm",          READ,   json(200, ({ api }) => api.lfcPrewarmState())),
    route("POST",   "/lfc/prewarm",          CHANGE, accepted(({ api, url }) => api.lfcPrewarm(url.searchParams.get("from_endpoint")))),
    route("DELETE", "/lfc/prewarm",          CHANGE, accepted(({ api }) => api.lfcCancelPrewarm())),
    route("GET",    "/lfc/offload",          READ,   json(200, ({ api }) => api.lfcOffloadState())),
    route("POST",   "/lfc/offload",          CHANGE, accepted(({ api }) => api.lfcOffload())),
  ];
}

export function internalRoutes(): Route[] {
  // biome-ignore format: a table
  return [
    route("POST", "/grants",                       LOCAL_CHANGE, json(201, async (ctx) => ctx.api.setGrants(await body(ctx)))),
    route("POST", "/extensions",                   LOCAL_CHANGE, json(201, async (ctx) => ctx.api.installExtension(await body(ctx)))),
    route("POST", "/extension_server/{filename}",  LOCAL_CHANGE, extensionServer),
  ];
}
