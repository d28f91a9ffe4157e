// GET /database_schema?database=NAME: the database's schema-only dump as SQL text, streamed.
// 404 `database does not exist` before any output; the dump stops when the client goes away.
import { pipeline } from "node:stream/promises";
import { OperationError } from "../../../compute/operation-error.js";
import type { Route } from "../route.js";

export const databaseSchemaRoute: Route = {
  method: "GET",
  path: "/database_schema",
  auth: true,
  async handle({ res, url, api }) {
    const database = url.searchParams.get("database");
    if (!database) throw new OperationError("invalid_argument", "missing query parameter: database");
    const gone = new AbortController();
    const onClose = () => gone.abort(new Error("client went away"));
    res.once("close", onClose);
    const dump = await api.databaseSchema(database, gone.signal);
    // The body is SQL, not JSON (Neon labels it application/json; any client reads it as text).
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    try {
      await pipeline(dump, res);
    } finally {
      res.off("close", onClose);
    }
  },
};
