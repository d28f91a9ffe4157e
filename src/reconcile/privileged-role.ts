// The privileged role (`--privileged-role-name`, Neon's neon_superuser): what every spec role is
// a member of. NOLOGIN, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS; member of
// pg_read_all_data and pg_write_all_data, and (as Neon's migrations 0004 and 0012 grant) of
// pg_monitor and pg_signal_backend WITH ADMIN OPTION; never a superuser and never a member of
// the roles that reach the server's files or programs.
import { quoteIdent } from "../postgres/quote.js";
import type { CatalogSnapshot } from "./catalog-snapshot.js";
import { PlanError } from "./plan-error.js";
import { type PlannedStatement, statement } from "./statement.js";

const ATTRIBUTES = "NOLOGIN CREATEDB CREATEROLE REPLICATION BYPASSRLS";
const MEMBER_OF = ["pg_read_all_data", "pg_write_all_data"];
const ADMIN_OF = ["pg_monitor", "pg_signal_backend"];
/** Memberships that would let it read or write the server's files or run programs as the OS user. */
const NEVER_MEMBER_OF = [
  "pg_execute_server_program",
  "pg_read_server_files",
  "pg_write_server_files",
  // 15+ and 16+: on older majors no role has these memberships, so nothing is revoked there.
  "pg_checkpoint",
  "pg_use_reserved_connections",
];

/** Statements that bring the privileged role to exactly the state above; none if it is there. */
export function privilegedRoleStatements(snapshot: CatalogSnapshot, name: string): PlannedStatement[] {
  const role = quoteIdent(name);
  const existing = snapshot.roles.find((r) => r.name === name);
  if (!existing) {
    return [
      statement(
        "create role",
        name,
        `CREATE ROLE ${role} ${ATTRIBUTES} IN ROLE ${MEMBER_OF.map(quoteIdent).join(", ")}`,
      ),
      ...ADMIN_OF.map((g) =>
        statement("grant membership to role", name, `GRANT ${quoteIdent(g)} TO ${role} WITH ADMIN OPTION`),
      ),
    ];
  }
  if (existing.superuser) {
    throw new PlanError(
      null,
      `privileged role ${role} is a superuser; the privileged role must not be one (pick another --privileged-role-name)`,
    );
  }
  const out: PlannedStatement[] = [];
  const fine =
    !existing.login && existing.createdb && existing.createrole && existing.replication && existing.bypassrls;
  if (!fine) out.push(statement("alter role", name, `ALTER ROLE ${role} ${ATTRIBUTES}`));
  const has = new Map(snapshot.privilegedMemberships.map((m) => [m.role, m.admin]));
  for (const g of MEMBER_OF) {
    if (!has.has(g))
      out.push(statement("grant membership to role", name, `GRANT ${quoteIdent(g)} TO ${role}`));
  }
  for (const g of ADMIN_OF) {
    if (has.get(g) !== true) {
      out.push(
        statement("grant membership to role", name, `GRANT ${quoteIdent(g)} TO ${role} WITH ADMIN OPTION`),
      );
    }
  }
  for (const g of NEVER_MEMBER_OF) {
    if (has.has(g))
      out.push(statement("revoke membership from role", name, `REVOKE ${quoteIdent(g)} FROM ${role}`));
  }
  return out;
}
