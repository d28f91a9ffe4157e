// POST /grants: grant privileges on a schema to a role, only those it does not hold yet
// (read from the schema's ACL), so a repeated request issues no GRANT and also answers on a
// read-only replica when nothing is missing.
import { OperationError } from "../errors/operation-error.js";
import { type ConnectionTarget, withConnection } from "../postgres/connection.js";
import { quoteIdent } from "../postgres/quote.js";
import { requireName, requireObject } from "./request-body.js";

/** Neon's Privilege enum (what the API accepts); Postgres itself allows only USAGE and CREATE on a schema. */
export const SCHEMA_GRANT_PRIVILEGES = [
  "SELECT",
  "INSERT",
  "UPDATE",
  "DELETE",
  "TRUNCATE",
  "REFERENCES",
  "TRIGGER",
  "USAGE",
  "CREATE",
  "CONNECT",
  "TEMPORARY",
  "EXECUTE",
] as const;
export type SchemaPrivilege = (typeof SCHEMA_GRANT_PRIVILEGES)[number];

export interface SchemaGrantsRequest {
  database: string;
  schema: string;
  privileges: SchemaPrivilege[];
  role: string;
}

export function parseSchemaGrants(body: unknown): SchemaGrantsRequest {
  const b = requireObject(body);
  const database = requireName(b, "database");
  const schema = requireName(b, "schema");
  const role = requireName(b, "role");
  if (!Array.isArray(b.privileges) || b.privileges.length === 0) {
    throw new OperationError("unprocessable", "privileges: expected a non-empty array");
  }
  const privileges = b.privileges.map((p, i) => {
    if (!SCHEMA_GRANT_PRIVILEGES.includes(p as SchemaPrivilege)) {
      throw new OperationError(
        "unprocessable",
        `privileges[${i}]: expected one of ${SCHEMA_GRANT_PRIVILEGES.join(", ")}, got ${JSON.stringify(p)}`,
      );
    }
    return p as SchemaPrivilege;
  });
  return { database, schema, privileges, role };
}

function failure(err: unknown, req: SchemaGrantsRequest): OperationError {
  if (err instanceof OperationError) return err;
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  if (e.code === "3D000")
    return new OperationError("not_found", `database ${quoteIdent(req.database)} does not exist`);
  return new OperationError("internal", `failed to grant role privileges to the schema: ${message}`, {
    cause: err,
  });
}

export async function setSchemaGrants(target: ConnectionTarget, body: unknown): Promise<SchemaGrantsRequest> {
  const req = parseSchemaGrants(body);
  try {
    await withConnection(
      target,
      { database: req.database, applicationName: "compute_ctl:grants" },
      async (client) => {
        const { rows } = await client.query<{ found: boolean; role_found: boolean; held: string[] | null }>(
          `SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1) AS found,
                EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $2) AS role_found,
                (SELECT pg_catalog.array_agg(DISTINCT a.privilege_type)
                   FROM pg_catalog.pg_namespace n,
                        pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
                   JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
                  WHERE n.nspname = $1 AND r.rolname = $2) AS held`,
          [req.schema, req.role],
        );
        const { found, role_found, held } = rows[0];
        if (!found) throw new OperationError("not_found", `schema ${quoteIdent(req.schema)} does not exist`);
        if (!role_found) throw new OperationError("not_found", `role ${quoteIdent(req.role)} does not exist`);
        const missing = [...new Set(req.privileges)].filter((p) => !(held ?? []).includes(p));
        if (missing.length === 0) return;
        await client.query(
          `GRANT ${missing.join(", ")} ON SCHEMA ${quoteIdent(req.schema)} TO ${quoteIdent(req.role)}`,
        );
      },
    );
  } catch (err) {
    throw failure(err, req);
  }
  return req;
}
