// Spec passwords versus what pg_authid stores. The spec carries an md5 hex hash without its
// `md5` prefix (or a full SCRAM-SHA-256 verifier, or null); Postgres stores `md5<hash>`, the
// verifier as is, or NULL. Comparing the stored forms keeps an unchanged spec from re-issuing
// ALTER ROLE on every apply (Neon compares the raw strings and re-alters md5 roles each time).
import { quoteLiteral } from "../postgres/quote.js";

const MD5_STORED = /^md5[0-9a-f]{32}$/;
const MD5_HEX = /^[0-9a-fA-F]{32}$/;

/** The value pg_authid.rolpassword will hold after `PASSWORD <clause>`. */
export function storedPassword(spec: string | null | undefined): string | null {
  if (spec === null || spec === undefined) return null;
  if (spec.startsWith("SCRAM-SHA-256$")) return spec;
  // Tolerate a hash that already carries its prefix instead of producing `md5md5...`.
  if (MD5_STORED.test(spec)) return spec;
  // Postgres only recognises a lower-case hash; anything else it would hash as a plain password.
  if (MD5_HEX.test(spec)) return `md5${spec.toLowerCase()}`;
  return `md5${spec}`;
}

export function passwordMatches(spec: string | null | undefined, stored: string | null): boolean {
  return storedPassword(spec) === stored;
}

/** `PASSWORD '<hash>'` or `PASSWORD NULL`, and the same with the hash masked. */
export function passwordClause(spec: string | null | undefined): { sql: string; redacted: string } {
  const stored = storedPassword(spec);
  if (stored === null) return { sql: "PASSWORD NULL", redacted: "PASSWORD NULL" };
  return { sql: `PASSWORD ${quoteLiteral(stored)}`, redacted: "PASSWORD '***'" };
}

/** Postgres forgets an md5 password on rename: the hash is salted with the role name. */
export function passwordAfterRename(stored: string | null): string | null {
  return stored?.startsWith("md5") ? null : stored;
}
