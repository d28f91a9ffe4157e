// Which role attributes a spec role's options ask for, and whether the catalog already has
// them. Only attributes the options name (plus LOGIN, which every spec role gets) are compared:
// ALTER ROLE leaves the others alone too, so comparing them would only cause needless ALTERs.
import type { GenericOption } from "../spec/types.js";
import { optionKey } from "./sql-options.js";

/** A role's attributes as read from pg_authid. */
export interface RoleAttributes {
  superuser: boolean;
  inherit: boolean;
  createrole: boolean;
  createdb: boolean;
  login: boolean;
  replication: boolean;
  bypassrls: boolean;
  connlimit: number;
  /** rolvaliduntil as JSON renders it (ISO 8601 or "infinity"), null when unset. */
  validUntil: string | null;
}

type FlagName = "superuser" | "inherit" | "createrole" | "createdb" | "login" | "replication" | "bypassrls";
const FLAGS: FlagName[] = [
  "superuser",
  "inherit",
  "createrole",
  "createdb",
  "login",
  "replication",
  "bypassrls",
];

/** The desired values the options pin down; absent keys are "whatever the catalog has". */
export type DesiredAttributes = Partial<RoleAttributes>;

export function desiredAttributes(options: readonly GenericOption[] | null | undefined): DesiredAttributes {
  const want: DesiredAttributes = {};
  for (const opt of options ?? []) {
    const key = optionKey(opt);
    const flag = FLAGS.find((f) => key === f.toUpperCase() || key === `NO${f.toUpperCase()}`);
    if (flag && opt.value === null) want[flag] = key === flag.toUpperCase();
    else if (key === "CONNECTION LIMIT" && opt.value !== null) want.connlimit = Number(opt.value);
    else if (key === "VALID UNTIL" && opt.value !== null) want.validUntil = opt.value;
  }
  // Every spec role logs in unless the options say NOLOGIN.
  if (want.login === undefined) want.login = true;
  return want;
}

function sameInstant(spec: string, stored: string | null): boolean {
  if (stored === null) return false;
  if (spec.trim().toLowerCase() === "infinity" || stored === "infinity")
    return spec.trim().toLowerCase() === stored;
  const a = Date.parse(spec);
  const b = Date.parse(stored);
  return !Number.isNaN(a) && a === b;
}

/** True when the catalog differs from what the options ask for. */
export function attributesDiffer(want: DesiredAttributes, have: RoleAttributes): boolean {
  for (const f of FLAGS) if (want[f] !== undefined && want[f] !== have[f]) return true;
  if (want.connlimit !== undefined && want.connlimit !== have.connlimit) return true;
  if (typeof want.validUntil === "string" && !sameInstant(want.validUntil, have.validUntil)) return true;
  return false;
}

/** Whether the options already say LOGIN or NOLOGIN (then we must not add LOGIN ourselves). */
export function optionsSetLogin(options: readonly GenericOption[] | null | undefined): boolean {
  return (options ?? []).some((o) => ["LOGIN", "NOLOGIN"].includes(optionKey(o)));
}
