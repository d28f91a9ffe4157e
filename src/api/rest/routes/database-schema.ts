// GET /database_schema?database=NAME: the database's schema-only dump as SQL text, streamed.
// 404 `database does not exist` before any output; the dump stops when the client goes away.
// Labelled application/json as Neon labels it (the body is SQL; clients read it as text).
import { pipeline } from "node:stream/promises";
import { OperationError } from "../../../errors/operation-error.js";
import type { RouteHandler } from "../route.js";

export const databaseSchema: RouteHandler = async ({ res, url, api }) => {
  const database = url.searchParams.get("database");
  if (database === null)
    throw new OperationError(
      "invalid_argument",
      "failed to deserialize query string: missing field `database`",
    );
  const gone = new AbortController();
  const onClose = () => gone.abort(new Error("client went away"));
  res.once("close", onClose);
  const dump = await api.databaseSchema(database, gone.signal);
  res.writeHead(200, { "content-type": "application/json" });
  try {
    await pipeline(dump, res);
  } finally {
    res.off("close", onClose);
  }
};
