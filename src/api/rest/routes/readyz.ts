// GET /readyz: the readiness probe under the name CloudNativePG's instance manager and the
// Kubernetes components use (next to /healthz and /startupz). The same answer as GET /ready,
// which stays for Neon-compatible clients.
import type { Route } from "../route.js";
import { readyRoute } from "./ready.js";

export const readyzRoute: Route = { ...readyRoute, path: "/readyz" };
