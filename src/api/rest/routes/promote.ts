// POST /promote: body {spec, wal_flush_lsn}; 200 with the promotion's timings. As in Neon, a
// body that cannot be read is {"error"} with its 4xx (400 spec rule, 415, 422); every failure of
// the promotion itself is 500 {"status":"failed","error"}.
import { OperationError } from "../../../errors/operation-error.js";
import { httpStatusOf } from "../error-status.js";
import { readJson, sendError, sendJson } from "../http-io.js";
import type { RouteHandler } from "../route.js";

const REQUEST_ERRORS = new Set(["invalid_argument", "unprocessable", "unsupported_media_type"]);

export const promote: RouteHandler = async ({ req, res, api, maxBodyBytes }) => {
  const body = await readJson(req, maxBodyBytes);
  try {
    sendJson(res, 200, await api.promote(body));
  } catch (err) {
    if (err instanceof OperationError && REQUEST_ERRORS.has(err.kind)) {
      sendError(res, httpStatusOf(err), err.message);
      return;
    }
    sendJson(res, 500, { status: "failed", error: err instanceof Error ? err.message : String(err) });
  }
};
