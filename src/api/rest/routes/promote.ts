// POST /promote: body {spec, wal_flush_lsn}; 200 with the promotion's timings, or
// {"status":"failed","error"} on failure.
import { OperationError } from "../../../compute/operation-error.js";
import { readJson, sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const promoteRoute: Route = {
  method: "POST",
  path: "/promote",
  auth: true,
  async handle({ req, res, api }) {
    const body = await readJson(req);
    try {
      sendJson(res, 200, await api.promote(body));
    } catch (err) {
      const status = err instanceof OperationError ? err.httpStatus : 500;
      sendJson(res, status, { status: "failed", error: err instanceof Error ? err.message : String(err) });
    }
  },
};
