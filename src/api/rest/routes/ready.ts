// GET /ready: 200 while Postgres serves queries, 503 otherwise (readiness probe).
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const readyRoute: Route = {
  method: "GET",
  path: "/ready",
  auth: false,
  async handle({ res, api }) {
    const ready = api.ready();
    sendJson(res, ready ? 200 : 503, { ready, status: api.status().status });
  },
};
