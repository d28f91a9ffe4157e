// POST /terminate[?mode=fast|immediate]: answers {"lsn"} once Postgres has stopped; 201 if it
// already had. As in Neon, no query string means fast, and a query string without a valid `mode`
// is 400 (`?mode=bogus` must not quietly run a fast shutdown).
import { OperationError } from "../../../errors/operation-error.js";
import type { TerminateMode } from "../../compute-api.js";
import { sendJson } from "../http-io.js";
import type { RouteHandler } from "../route.js";

export function terminateMode(url: URL): TerminateMode {
  if (url.search === "" || url.search === "?") return "fast";
  const modes = url.searchParams.getAll("mode");
  if (modes.length === 0)
    throw new OperationError("invalid_argument", "failed to deserialize query string: missing field `mode`");
  if (modes.length > 1)
    throw new OperationError(
      "invalid_argument",
      "failed to deserialize query string: duplicate field `mode`",
    );
  if (modes[0] !== "fast" && modes[0] !== "immediate")
    throw new OperationError(
      "invalid_argument",
      `failed to deserialize query string: unknown variant \`${modes[0]}\`, expected \`fast\` or \`immediate\``,
    );
  return modes[0];
}

export const terminate: RouteHandler = async ({ res, url, api }) => {
  const result = await api.terminate(terminateMode(url));
  sendJson(res, result.alreadyTerminated ? 201 : 200, { lsn: result.lsn });
};
