// POST /terminate?mode=fast|immediate: answers {"lsn"} once Postgres has stopped; 201 if it
// already had.
import type { TerminateMode } from "../../compute-api.js";
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const terminateRoute: Route = {
  method: "POST",
  path: "/terminate",
  auth: true,
  async handle({ res, url, api }) {
    const mode: TerminateMode = url.searchParams.get("mode") === "immediate" ? "immediate" : "fast";
    const result = await api.terminate(mode);
    sendJson(res, result.alreadyTerminated ? 201 : 200, { lsn: result.lsn });
  },
};
