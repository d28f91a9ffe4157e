// GET /startupz: 200 once Postgres has been started, even while it is still recovering, so a
// startup probe never kills a recovering replica in a loop.
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const startupzRoute: Route = {
  method: "GET",
  path: "/startupz",
  auth: false,
  async handle({ res, api }) {
    const started = api.started();
    sendJson(res, started ? 200 : 503, { started, status: api.status().status });
  },
};
