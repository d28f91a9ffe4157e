// GET /info: CPUs, memory, Postgres and agent versions, agent uptime.
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const infoRoute: Route = {
  method: "GET",
  path: "/info",
  auth: true,
  async handle({ res, api }) {
    sendJson(res, 200, await api.info());
  },
};
