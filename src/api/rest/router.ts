// Finds the route for a request: exact paths, or a prefix with one `{name}` parameter; 404 for
// an unknown path, 405 for a known path with another method (HEAD is served by GET).
import type { Route } from "./route.js";

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
