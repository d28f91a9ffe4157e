// What must happen in a database before a role can be dropped (Neon's DeleteDBRoleReferences):
// hand its objects to the database owner, revoke privileges other roles granted it, then drop
// what is left. DROP OWNED alone only revokes grants made by object owners; on PG15 a grant made
// by another role (one holding GRANT OPTION) survives it and blocks DROP ROLE, so every grantor
// is impersonated in turn and revokes its own grants (REVOKE ... GRANTED BY must be the current
// role on PG15). Neon does this for tables in schema `public` only; we cover every ACL'd object.
import { quoteDollar, quoteIdent, quoteLiteral } from "../postgres/quote.js";
import { type PlannedStatement, statement } from "./statement.js";

const GRANTS_HELD_SQL = `
  SELECT (CASE c.relkind WHEN 'S' THEN 'SEQUENCE ' ELSE 'TABLE ' END) || c.oid::pg_catalog.regclass::text AS obj, a.grantor
    FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a WHERE a.grantee = target
  UNION
  SELECT 'TABLE ' || c.oid::pg_catalog.regclass::text, a.grantor
    FROM pg_catalog.pg_attribute t JOIN pg_catalog.pg_class c ON c.oid = t.attrelid,
         pg_catalog.aclexplode(t.attacl) a WHERE a.grantee = target
  UNION
  SELECT 'SCHEMA ' || pg_catalog.quote_ident(n.nspname), a.grantor
    FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a WHERE a.grantee = target
  UNION
  SELECT 'ROUTINE ' || p.oid::pg_catalog.regprocedure::text, a.grantor
    FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a WHERE a.grantee = target
  UNION
  SELECT (CASE t.typtype WHEN 'd' THEN 'DOMAIN ' ELSE 'TYPE ' END) || t.oid::pg_catalog.regtype::text, a.grantor
    FROM pg_catalog.pg_type t, pg_catalog.aclexplode(t.typacl) a WHERE a.grantee = target
  UNION
  SELECT 'LANGUAGE ' || pg_catalog.quote_ident(l.lanname), a.grantor
    FROM pg_catalog.pg_language l, pg_catalog.aclexplode(l.lanacl) a WHERE a.grantee = target
  UNION
  SELECT 'FOREIGN DATA WRAPPER ' || pg_catalog.quote_ident(w.fdwname), a.grantor
    FROM pg_catalog.pg_foreign_data_wrapper w, pg_catalog.aclexplode(w.fdwacl) a WHERE a.grantee = target
  UNION
  SELECT 'FOREIGN SERVER ' || pg_catalog.quote_ident(s.srvname), a.grantor
    FROM pg_catalog.pg_foreign_server s, pg_catalog.aclexplode(s.srvacl) a WHERE a.grantee = target
  UNION
  SELECT 'LARGE OBJECT ' || m.oid::text, a.grantor
    FROM pg_catalog.pg_largeobject_metadata m, pg_catalog.aclexplode(m.lomacl) a WHERE a.grantee = target
  UNION
  SELECT 'DATABASE ' || pg_catalog.quote_ident(d.datname), a.grantor
    FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a WHERE a.grantee = target
  UNION
  SELECT 'TABLESPACE ' || pg_catalog.quote_ident(s.spcname), a.grantor
    FROM pg_catalog.pg_tablespace s, pg_catalog.aclexplode(s.spcacl) a WHERE a.grantee = target`;

/** A DO block revoking, as each grantor, every privilege granted to `role` in this database. */
export function revokeGrantsBlock(role: string): string {
  const body = `
DECLARE
  target oid := (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = ${quoteLiteral(role)});
  g record;
BEGIN
  IF target IS NULL THEN RETURN; END IF;
  FOR g IN SELECT DISTINCT held.obj, r.rolname AS grantor
             FROM (${GRANTS_HELD_SQL}) held
             JOIN pg_catalog.pg_roles r ON r.oid = held.grantor
            WHERE held.grantor <> target
  LOOP
    EXECUTE pg_catalog.format('SET LOCAL ROLE %I', g.grantor);
    EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %I GRANTED BY %I CASCADE', g.obj, ${quoteLiteral(role)}, g.grantor);
    RESET ROLE;
  END LOOP;
END`;
  return `DO ${quoteDollar(body)}`;
}

/** The statements, in one database, that leave nothing there tying `role` down. */
export function roleReferenceStatements(role: string, databaseOwner: string): PlannedStatement[] {
  return [
    statement(
      "reassign objects owned by role",
      role,
      `REASSIGN OWNED BY ${quoteIdent(role)} TO ${quoteIdent(databaseOwner)}`,
    ),
    statement("revoke privileges granted to role", role, revokeGrantsBlock(role)),
    statement("drop objects owned by role", role, `DROP OWNED BY ${quoteIdent(role)}`),
  ];
}
