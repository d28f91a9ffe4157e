// GET /dbs_and_roles: roles and databases as the catalog has them. Unlike Neon, password
// hashes are never returned (pg_roles masks them; we do not even select the column).
import type { DatabaseInfo, RoleInfo } from "../api/compute-api.js";
import { type ConnectionTarget, withConnection } from "../postgres/connection.js";

export async function listDbsAndRoles(
  target: ConnectionTarget,
): Promise<{ roles: RoleInfo[]; databases: DatabaseInfo[] }> {
  return withConnection(target, { applicationName: "compute_ctl:dbs_and_roles" }, async (client) => {
    const roles = await client.query<{ name: string }>(
      "SELECT rolname AS name FROM pg_catalog.pg_roles ORDER BY oid",
    );
    const dbs = await client.query<{ name: string; owner: string; restrict_conn: boolean; invalid: boolean }>(
      `SELECT datname AS name, pg_catalog.pg_get_userbyid(datdba) AS owner,
              NOT datallowconn AS restrict_conn, datconnlimit = -2 AS invalid
         FROM pg_catalog.pg_database ORDER BY oid`,
    );
    return {
      roles: roles.rows.map((r) => ({ name: r.name, options: null })),
      databases: dbs.rows.map((d) => ({ ...d, options: null })),
    };
  });
}
