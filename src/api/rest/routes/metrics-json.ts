// GET /metrics.json: phase timings of the current start.
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const metricsJsonRoute: Route = {
  method: "GET",
  path: "/metrics.json",
  auth: true,
  async handle({ res, api }) {
    sendJson(res, 200, api.timings());
  },
};
