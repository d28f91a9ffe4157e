// GET /autoscaling_metrics (no auth): the exporter's autoscaling set, forwarded from its Unix
// socket in PGDATA behind the optional allow-list and per-client rate limit.
import type { Route } from "../route.js";

export const autoscalingMetricsRoute: Route = {
  method: "GET",
  path: "/autoscaling_metrics",
  auth: false,
  async handle({ req, res, api, log }) {
    await api.forwardAutoscalingMetrics(req, res, log);
  },
};
