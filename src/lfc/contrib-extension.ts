// The contrib extensions vanilla prewarm relies on (pg_buffercache to read shared_buffers,
// pg_prewarm to load blocks), found or created in the database a session is connected to. A
// primary gets them created (in `public`); a standby cannot write its catalog, so there they must
// have been created on the primary, and the error says so.
import type pg from "pg";
import { quoteIdent } from "../postgres/quote.js";

export class MissingExtensionError extends Error {
  override readonly name = "MissingExtensionError";
}

/** The schema-qualified prefix (`"public".`) for calling the extension's objects. */
export async function ensureContribExtension(
  client: pg.Client,
  extension: "pg_buffercache" | "pg_prewarm",
  database: string,
): Promise<string> {
  const find = async () =>
    (
      await client.query<{ nspname: string }>(
        `SELECT n.nspname FROM pg_catalog.pg_extension e
           JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1`,
        [extension],
      )
    ).rows[0]?.nspname;
  let schema = await find();
  if (schema === undefined) {
    const { rows } = await client.query<{ standby: boolean; public: boolean; available: boolean }>(
      `SELECT pg_catalog.pg_is_in_recovery() AS standby,
              EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = 'public') AS public,
              EXISTS (SELECT FROM pg_catalog.pg_available_extensions WHERE name = $1) AS available`,
      [extension],
    );
    const s = rows[0];
    if (!s.available)
      throw new MissingExtensionError(
        `${extension} is not available in this Postgres installation (contrib)`,
      );
    if (s.standby)
      throw new MissingExtensionError(
        `${extension} is not installed in database ${JSON.stringify(database)} and a standby cannot create it: ` +
          `run CREATE EXTENSION ${extension} there on the primary`,
      );
    if (!s.public)
      throw new MissingExtensionError(
        `${extension} is not installed in database ${JSON.stringify(database)} and it has no public schema to create it in`,
      );
    await client.query(`CREATE EXTENSION IF NOT EXISTS ${extension} SCHEMA public`);
    schema = (await find()) ?? "public";
  }
  return `${quoteIdent(schema)}.`;
}
