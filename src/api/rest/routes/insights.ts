// GET /insights: top statements from pg_stat_statements (412 unless running). As in Neon, the
// body is a JSON *string* holding the document `{"pg_stat_statements": [...]}`, whose numbers
// (queryid is 64-bit) are exactly as Postgres printed them.
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const insightsRoute: Route = {
  method: "GET",
  path: "/insights",
  auth: true,
  async handle({ res, api }) {
    sendJson(res, 200, (await api.insights()).neonText);
  },
};
