// POST /extensions: make an extension present at a version in a database. Nothing happens if
// it is installed at that version; a different version is updated in place; otherwise it is
// created in schema public.
import { OperationError } from "../errors/operation-error.js";
import { type ConnectionTarget, withConnection } from "../postgres/connection.js";
import { quoteIdent, quoteLiteral } from "../postgres/quote.js";
import { requireName, requireObject } from "./request-body.js";

export interface ExtensionRequest {
  extension: string;
  database: string;
  version: string;
}

export function parseExtensionRequest(body: unknown): ExtensionRequest {
  const b = requireObject(body);
  return {
    extension: requireName(b, "extension"),
    database: requireName(b, "database"),
    version: requireName(b, "version"),
  };
}

export async function installExtension(
  target: ConnectionTarget,
  body: unknown,
): Promise<{ extension: string; version: string }> {
  const req = parseExtensionRequest(body);
  const ext = quoteIdent(req.extension);
  try {
    await withConnection(
      target,
      { database: req.database, applicationName: "compute_ctl:extensions" },
      async (client) => {
        const { rows } = await client.query<{ extversion: string }>(
          "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = $1",
          [req.extension],
        );
        const installed = rows[0]?.extversion;
        if (installed === req.version) return;
        if (installed !== undefined) {
          await client.query(`ALTER EXTENSION ${ext} UPDATE TO ${quoteLiteral(req.version)}`);
        } else {
          await client.query(
            `CREATE EXTENSION IF NOT EXISTS ${ext} WITH SCHEMA public VERSION ${quoteLiteral(req.version)}`,
          );
        }
      },
    );
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === "3D000")
      throw new OperationError("not_found", `database ${quoteIdent(req.database)} does not exist`);
    throw new OperationError("internal", `failed to install extension: ${e.message ?? String(err)}`, {
      cause: err,
    });
  }
  return { extension: req.extension, version: req.version };
}
