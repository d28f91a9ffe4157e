// GET /healthz: liveness of the agent's own event loop; never touches SQL.
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const healthzRoute: Route = {
  method: "GET",
  path: "/healthz",
  auth: false,
  async handle({ res }) {
    sendJson(res, 200, { status: "ok" });
  },
};
