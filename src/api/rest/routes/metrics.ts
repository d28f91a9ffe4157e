// GET /metrics: Prometheus text of the agent's families and the exporter's.
import { sendText } from "../http-io.js";
import type { Route } from "../route.js";

export const metricsRoute: Route = {
  method: "GET",
  path: "/metrics",
  auth: false,
  async handle({ res, api }) {
    sendText(res, 200, "text/plain; version=0.0.4; charset=utf-8", await api.prometheusText());
  },
};
