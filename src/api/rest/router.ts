// The route tables, readable top to bottom. External: control plane, probes, scrapers (JWT on
// the routes marked auth). Internal: Postgres extensions and local tools, no auth.
import type { Route } from "./route.js";
import { autoscalingMetricsRoute } from "./routes/autoscaling-metrics.js";
import { checkWritabilityRoute } from "./routes/check-writability.js";
import { configureRoute } from "./routes/configure.js";
import { databaseSchemaRoute } from "./routes/database-schema.js";
import { dbsAndRolesRoute } from "./routes/dbs-and-roles.js";
import { extensionsRoute } from "./routes/extensions.js";
import { grantsRoute } from "./routes/grants.js";
import { healthzRoute } from "./routes/healthz.js";
import { infoRoute } from "./routes/info.js";
import { insightsRoute } from "./routes/insights.js";
import { metricsRoute } from "./routes/metrics.js";
import { metricsJsonRoute } from "./routes/metrics-json.js";
import { openapiRoute } from "./routes/openapi.js";
import { promoteRoute } from "./routes/promote.js";
import { readyRoute } from "./routes/ready.js";
import { readyzRoute } from "./routes/readyz.js";
import { startupzRoute } from "./routes/startupz.js";
import { statusRoute } from "./routes/status.js";
import { terminateRoute } from "./routes/terminate.js";

export function externalRoutes(extra: readonly Route[] = []): Route[] {
  return [
    statusRoute,
    metricsJsonRoute,
    metricsRoute,
    configureRoute,
    terminateRoute,
    readyRoute,
    readyzRoute,
    healthzRoute,
    startupzRoute,
    dbsAndRolesRoute,
    databaseSchemaRoute,
    insightsRoute,
    checkWritabilityRoute,
    infoRoute,
    openapiRoute,
    promoteRoute,
    autoscalingMetricsRoute,
    ...extra,
  ];
}

export function internalRoutes(extra: readonly Route[] = []): Route[] {
  return [grantsRoute, extensionsRoute, ...extra];
}

export type RouteMatch = { route: Route } | { status: 404 | 405 };

export function matchRoute(routes: readonly Route[], method: string, path: string): RouteMatch {
  const samePath = routes.filter((r) => r.path === path);
  if (samePath.length === 0) return { status: 404 };
  const route = samePath.find((r) => r.method === method || (method === "HEAD" && r.method === "GET"));
  return route ? { route } : { status: 405 };
}
