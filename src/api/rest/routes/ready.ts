// GET /ready: 200 while the compute runs and Postgres answered a query recently
// (--ready-max-age-s), 503 with the reason otherwise (readiness probe).
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const readyRoute: Route = {
  method: "GET",
  path: "/ready",
  auth: false,
  async handle({ res, api }) {
    const { ready, reason } = api.readiness();
    sendJson(res, ready ? 200 : 503, { ready, status: api.status().status, ...(reason ? { reason } : {}) });
  },
};
