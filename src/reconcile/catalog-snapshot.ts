// The catalog state a spec is planned against, read from the system database in one query.
// Everything the planner needs to decide that nothing has to change is here, so an unchanged
// re-apply costs one connection and one round trip. Shared catalogs (pg_authid, pg_database, pg_subscription,
// pg_shdepend) let us see per-database facts without connecting to each database.
import type pg from "pg";
import type { RoleAttributes } from "./role-attributes.js";
import { DROP_DONE_SQL, DROP_DONE_TABLE_EXISTS_SQL } from "./subscription-drops.js";

export interface RoleState extends RoleAttributes {
  oid: number;
  name: string;
  /** pg_authid.rolpassword: `md5...`, a SCRAM verifier, or null. */
  password: string | null;
}

export interface DatabaseState {
  oid: number;
  name: string;
  owner: string;
  isTemplate: boolean;
  allowConnections: boolean;
  /** An interrupted DROP DATABASE left it half-dropped (datconnlimit = -2). */
  invalid: boolean;
}

export interface CatalogSnapshot {
  /** The role the agent connects as (the `--connstr` user). */
  agentUser: string;
  /** The database of the `--connstr` URL. */
  systemDatabase: string;
  serverVersion: number;
  /** shared_preload_libraries as the running server has it. */
  preloadLibraries: string[];
  /** The server's `fsync` setting (off makes forced checkpoints nearly free). */
  fsync: boolean;
  roles: RoleState[];
  databases: DatabaseState[];
  /** Predefined (pg_*) roles the privileged role is a member of, directly or not. */
  privilegedMemberships: { role: string; admin: boolean }[];
  /** Logical subscriptions (pg_subscription is shared) by database. */
  subscriptions: { databaseOid: number; name: string }[];
  /**
   * Databases holding objects owned by, or privileges of, the roles asked about (0 = shared
   * objects; `onDatabase` is set when that shared object is a database, i.e. ownership of or
   * privileges on it).
   */
  roleDependencies: { roleOid: number; databaseOid: number; onDatabase: number | null }[];
  /** Whether neon_migration.database_setup exists, and what it records. */
  setupTable: boolean;
  databaseSetup: { databaseOid: number; version: number }[];
  pgStatStatementsInstalled: boolean;
  /** drop_subscriptions_before_start is recorded as done for the snapshot's key. */
  subscriptionsDropped: boolean;
  /** Extensions of the system database (read when auditing: pgaudit, pgauditlogtofile). */
  systemExtensions: string[];
  /** The system database has `pgaudit.log = none` as its default (read when auditing). */
  systemAuditOff: boolean;
}

// Each catalog a fresh backend touches costs it a relcache build, so only what the spec needs
// is read: pg_shdepend only for role deletions, pg_subscription only for database deletions.
function snapshotSql(opts: { dependencies: boolean; subscriptions: boolean; audit: boolean }): string {
  const parts = [
    "current_user AS agent_user",
    "pg_catalog.current_database() AS system_database",
    "pg_catalog.current_setting('server_version_num')::int AS server_version",
    "pg_catalog.current_setting('shared_preload_libraries') AS preload",
    "pg_catalog.current_setting('fsync')::bool AS fsync",
    `(SELECT coalesce(json_agg(json_build_array(a.oid::int8, a.rolname, a.rolpassword, a.rolsuper, a.rolinherit,
      a.rolcreaterole, a.rolcreatedb, a.rolcanlogin, a.rolreplication, a.rolbypassrls, a.rolconnlimit,
      a.rolvaliduntil)), '[]') FROM pg_catalog.pg_authid a) AS roles`,
    `(SELECT coalesce(json_agg(json_build_array(d.oid::int8, d.datname, pg_catalog.pg_get_userbyid(d.datdba),
      d.datistemplate, d.datallowconn, d.datconnlimit = -2)), '[]') FROM pg_catalog.pg_database d) AS databases`,
    // Predefined roles the privileged role belongs to, directly or not (membership checks go
    // through the catalog cache rather than a join over pg_auth_members).
    `(SELECT coalesce(json_agg(json_build_array(g.rolname, pg_catalog.pg_has_role(p.oid, g.oid, 'MEMBER WITH ADMIN OPTION'))), '[]')
       FROM pg_catalog.pg_authid p, pg_catalog.pg_authid g
      WHERE p.rolname = $1 AND g.rolname LIKE 'pg\\_%' AND pg_catalog.pg_has_role(p.oid, g.oid, 'MEMBER')) AS privileged_memberships`,
    // The extension's view, in whatever schema it was installed (pg_class is always cached).
    `EXISTS (SELECT FROM pg_catalog.pg_class WHERE relname = 'pg_stat_statements' AND relkind = 'v') AS pg_stat_statements`,
  ];
  // Our bookkeeping table may not exist yet (a fresh cluster): ask, rather than fail a query
  // that names it (that failure would put an ERROR into Postgres's log on every start).
  parts.push(`pg_catalog.to_regclass('neon_migration.database_setup') IS NOT NULL AS has_setup_table`);
  parts.push(`${DROP_DONE_TABLE_EXISTS_SQL} AS has_drop_done_table`);
  if (opts.audit) {
    parts.push(`(SELECT coalesce(json_agg(extname), '[]') FROM pg_catalog.pg_extension) AS extensions`);
    parts.push(`EXISTS (SELECT FROM pg_catalog.pg_db_role_setting s
       WHERE s.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
         AND s.setrole = 0 AND 'pgaudit.log=none' = ANY (s.setconfig)) AS audit_off`);
  }
  if (opts.subscriptions) {
    parts.push(`(SELECT coalesce(json_agg(json_build_array(s.subdbid::int8, s.subname)), '[]')
       FROM pg_catalog.pg_subscription s) AS subscriptions`);
  }
  if (opts.dependencies) {
    parts.push(`(SELECT coalesce(json_agg(json_build_array(x.refobjid::int8, x.dbid::int8, x.on_database::int8)), '[]')
       FROM (SELECT DISTINCT sd.refobjid, sd.dbid,
                    CASE WHEN sd.classid = 'pg_catalog.pg_database'::pg_catalog.regclass THEN sd.objid END AS on_database
               FROM pg_catalog.pg_shdepend sd
               JOIN pg_catalog.pg_authid a ON a.oid = sd.refobjid
              WHERE sd.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND sd.deptype <> 'p'
                AND a.rolname = ANY ($2::text[])) x) AS role_dependencies`);
  }
  return `SELECT ${parts.join(",\n  ")}`;
}

type Row = {
  agent_user: string;
  system_database: string;
  server_version: number;
  preload: string;
  fsync: boolean;
  roles: [
    number,
    string,
    string | null,
    boolean,
    boolean,
    boolean,
    boolean,
    boolean,
    boolean,
    boolean,
    number,
    string | null,
  ][];
  databases: [number, string, string, boolean, boolean, boolean][];
  privileged_memberships: [string, boolean][];
  subscriptions?: [number, string][];
  role_dependencies?: [number, number, number | null][];
  has_setup_table: boolean;
  has_drop_done_table: boolean;
  extensions?: string[];
  audit_off?: boolean;
  database_setup?: [number, number][];
  pg_stat_statements: boolean;
};

export interface SnapshotOptions {
  privilegedRole: string;
  /** Roles whose dependencies (pg_shdepend) are needed: those the delta operations name. */
  roleNames: readonly string[];
  /** Whether subscriptions are needed: the delta operations delete databases. */
  subscriptions: boolean;
  /** drop_subscriptions_before_start at this start: its key (null: none), or undefined. */
  dropSubscriptionsKey?: string | null;
  /** Whether the audit extensions and setting are needed (audit_log_level set). */
  audit?: boolean;
}

export async function readCatalogSnapshot(
  client: pg.Client,
  opts: SnapshotOptions,
): Promise<CatalogSnapshot> {
  const dependencies = opts.roleNames.length > 0;
  const params = dependencies ? [opts.privilegedRole, opts.roleNames] : [opts.privilegedRole];
  const r = (
    await client.query<Row>(
      snapshotSql({
        dependencies,
        subscriptions: opts.subscriptions || opts.dropSubscriptionsKey !== undefined,
        audit: opts.audit === true,
      }),
      params,
    )
  ).rows[0];
  let subscriptionsDropped = false;
  if (r.has_drop_done_table && typeof opts.dropSubscriptionsKey === "string") {
    const done = await client.query<{ done: boolean }>(DROP_DONE_SQL, [opts.dropSubscriptionsKey]);
    subscriptionsDropped = done.rows[0].done;
  }
  if (r.has_setup_table) {
    const setup = await client.query<{ rows: [number, number][] }>(
      `SELECT coalesce(json_agg(json_build_array(s.datoid::int8, s.version)), '[]') AS rows
         FROM neon_migration.database_setup s`,
    );
    r.database_setup = setup.rows[0].rows;
  }
  return {
    agentUser: r.agent_user,
    systemDatabase: r.system_database,
    serverVersion: r.server_version,
    preloadLibraries: r.preload
      .split(",")
      .map((s) => s.trim().replace(/^"(.*)"$/, "$1"))
      .filter(Boolean),
    fsync: r.fsync,
    roles: r.roles.map(
      ([
        oid,
        name,
        password,
        superuser,
        inherit,
        createrole,
        createdb,
        login,
        replication,
        bypassrls,
        connlimit,
        validUntil,
      ]) => ({
        oid,
        name,
        password,
        superuser,
        inherit,
        createrole,
        createdb,
        login,
        replication,
        bypassrls,
        connlimit,
        validUntil,
      }),
    ),
    databases: r.databases.map(([oid, name, owner, isTemplate, allowConnections, invalid]) => ({
      oid,
      name,
      owner,
      isTemplate,
      allowConnections,
      invalid,
    })),
    privilegedMemberships: r.privileged_memberships.map(([role, admin]) => ({ role, admin })),
    subscriptions: (r.subscriptions ?? []).map(([databaseOid, name]) => ({ databaseOid, name })),
    roleDependencies: (r.role_dependencies ?? []).map(([roleOid, databaseOid, onDatabase]) => ({
      roleOid,
      databaseOid,
      onDatabase,
    })),
    setupTable: r.database_setup !== undefined,
    databaseSetup: (r.database_setup ?? []).map(([databaseOid, version]) => ({ databaseOid, version })),
    pgStatStatementsInstalled: r.pg_stat_statements,
    subscriptionsDropped,
    systemExtensions: r.extensions ?? [],
    systemAuditOff: r.audit_off === true,
  };
}
