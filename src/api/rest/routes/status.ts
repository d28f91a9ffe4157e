// GET /status: the compute's status document.
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const statusRoute: Route = {
  method: "GET",
  path: "/status",
  auth: true,
  async handle({ res, api }) {
    sendJson(res, 200, api.status());
  },
};
