// The cluster migrations: SQL applied exactly once per cluster, in order, after a start. Ids
// follow Neon's numbering (0001..0012) so the tracking table means the same thing; the entries
// that only matter inside Neon are kept as `-- SKIP` placeholders (the id is bumped, nothing
// runs). Only ever append. Each is a function of the privileged role, quoted both ways, and of
// the server's capabilities: a migration for a later major is a skipped placeholder on earlier
// ones (its id is bumped all the same, as Neon's version-guarded migrations do).
import type { PgCapabilities } from "../postgres/capabilities.js";
import { quoteDollar, quoteIdent, quoteLiteral } from "../postgres/quote.js";

export interface Migration {
  id: number;
  sql: string;
}

type RoleName = { ident: string; literal: string };
type Template = (role: RoleName, caps: PgCapabilities) => string;

export const SKIP_MARKER = "-- SKIP";
const skip: Template = () => SKIP_MARKER;

function doBlock(body: string): string {
  return `DO ${quoteDollar(body)}`;
}

/** `sql` where the server has the capability, a skipped placeholder where it does not. */
function when(has: (caps: PgCapabilities) => boolean, sql: (r: RoleName) => string): Template {
  return (r, caps) => (has(caps) ? sql(r) : `${SKIP_MARKER} (not on PostgreSQL ${caps.major})`);
}

const TEMPLATES: Template[] = [
  // 0001
  (r) => `ALTER ROLE ${r.ident} BYPASSRLS`,
  // 0002: Neon also sets NOBYPASSRLS on every role outside the privileged role, repairing its
  // own historic roles; on a vanilla cluster that would strip users' roles, so only INHERIT.
  (r) =>
    doBlock(`
DECLARE m record;
BEGIN
  FOR m IN SELECT rolname FROM pg_catalog.pg_roles
            WHERE NOT rolinherit AND NOT rolsuper AND pg_catalog.pg_has_role(rolname, ${r.literal}, 'member')
  LOOP
    EXECUTE pg_catalog.format('ALTER ROLE %I INHERIT', m.rolname);
  END LOOP;
END`),
  // 0003
  when(
    (c) => c.pgCreateSubscription,
    (r) => `GRANT pg_create_subscription TO ${r.ident}`,
  ),
  // 0004
  (r) => `GRANT pg_monitor TO ${r.ident} WITH ADMIN OPTION`,
  // 0005-0009: default privileges come from the per-database setup; the rest are Neon-only fixes.
  skip,
  skip,
  skip,
  skip,
  skip,
  // 0010
  when(
    (c) => c.snapshotFunctionGrants,
    (r) =>
      `GRANT EXECUTE ON FUNCTION pg_catalog.pg_export_snapshot(), pg_catalog.pg_log_standby_snapshot() TO ${r.ident}`,
  ),
  // 0011
  (r) => `GRANT EXECUTE ON FUNCTION pg_catalog.pg_show_replication_origin_status() TO ${r.ident}`,
  // 0012
  (r) => `GRANT pg_signal_backend TO ${r.ident} WITH ADMIN OPTION`,
];

export function migrationsFor(privilegedRole: string, caps: PgCapabilities): Migration[] {
  const role = { ident: quoteIdent(privilegedRole), literal: quoteLiteral(privilegedRole) };
  return TEMPLATES.map((t, i) => ({ id: i + 1, sql: t(role, caps) }));
}

export function isSkipped(m: Migration): boolean {
  return m.sql.startsWith(SKIP_MARKER);
}
