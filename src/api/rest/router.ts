// The route tables, readable top to bottom. External: control plane, probes, scrapers (JWT on
// the routes marked auth). Internal: Postgres extensions and local tools, no auth.
import type { Route } from "./route.js";
import { autoscalingMetricsRoute } from "./routes/autoscaling-metrics.js";
import { checkWritabilityRoute } from "./routes/check-writability.js";
import { configureRoute } from "./routes/configure.js";
import { databaseSchemaRoute } from "./routes/database-schema.js";
import { dbsAndRolesRoute } from "./routes/dbs-and-roles.js";
import { extensionServerRoute } from "./routes/extension-server.js";
import { extensionsRoute } from "./routes/extensions.js";
import { grantsRoute } from "./routes/grants.js";
import { healthzRoute } from "./routes/healthz.js";
import { infoRoute } from "./routes/info.js";
import { insightsRoute } from "./routes/insights.js";
import { lfcOffloadRoute, lfcOffloadStateRoute } from "./routes/lfc-offload.js";
import { lfcPrewarmCancelRoute, lfcPrewarmRoute, lfcPrewarmStateRoute } from "./routes/lfc-prewarm.js";
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
    lfcPrewarmStateRoute,
    lfcPrewarmRoute,
    lfcPrewarmCancelRoute,
    lfcOffloadStateRoute,
    lfcOffloadRoute,
    ...extra,
  ];
}

export function internalRoutes(extra: readonly Route[] = []): Route[] {
  return [grantsRoute, extensionsRoute, extensionServerRoute, ...extra];
}

export type RouteMatch = { route: Route; params: Record<string, string> } | { status: 404 | 405 };

/** `{}` for an exact match, the parameter for a `/prefix/{name}` route, null for no match. */
function matchPath(route: Route, path: string): Record<string, string> | null {
  const open = route.path.indexOf("{");
  if (open < 0) return route.path === path ? {} : null;
  const prefix = route.path.slice(0, open);
  if (!path.startsWith(prefix) || path.length === prefix.length) return null;
  let value: string;
  try {
    value = decodeURIComponent(path.slice(prefix.length));
  } catch {
    return null;
  }
  return { [route.path.slice(open + 1, -1)]: value };
}

export function matchRoute(routes: readonly Route[], method: string, path: string): RouteMatch {
  const samePath = routes.flatMap((r) => {
    const params = matchPath(r, path);
    return params ? [{ route: r, params }] : [];
  });
  if (samePath.length === 0) return { status: 404 };
  const hit = samePath.find(
    (m) => m.route.method === method || (method === "HEAD" && m.route.method === "GET"),
  );
  return hit ?? { status: 405 };
}
