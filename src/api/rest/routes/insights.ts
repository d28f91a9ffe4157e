// GET /insights: top statements from pg_stat_statements as JSON (412 unless running).
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const insightsRoute: Route = {
  method: "GET",
  path: "/insights",
  auth: true,
  async handle({ res, api }) {
    sendJson(res, 200, await api.insights());
  },
};
