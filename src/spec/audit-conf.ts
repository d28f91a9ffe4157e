// audit_log_level -> pgaudit settings, Neon's mapping (compute_tools config.rs), written after
// cluster.settings so neither the user nor the control plane can override them:
//   Base (and its old name Log): DDL and role changes into Postgres's own log;
//   Extended (and its old name Hipaa): everything but `misc`, without statement parameters,
//   Full: everything with parameters; both through pgauditlogtofile into <pgdata>/log/audit-*.log,
//   files rotated every 5 minutes.
// shared_preload_libraries gets pgaudit (and pgauditlogtofile) appended to the value the spec
// sets; unlike Neon, without a value it is just the audit libraries (vanilla Postgres has no
// `neon` library to preload), and a value set in postgresql_conf counts too.
import { quoteConfValue } from "../postgres/quote.js";
import type { ComputeSpecJson } from "./types.js";

export type AuditTier = "none" | "base" | "compliance";

export function auditTier(level: ComputeSpecJson["audit_log_level"]): AuditTier {
  if (level === "Log" || level === "Base") return "base";
  if (level === "Hipaa" || level === "Extended" || level === "Full") return "compliance";
  return "none";
}

/** The audit libraries a level needs preloaded. */
export function auditLibraries(level: ComputeSpecJson["audit_log_level"]): string[] {
  const tier = auditTier(level);
  if (tier === "base") return ["pgaudit"];
  if (tier === "compliance") return ["pgaudit", "pgauditlogtofile"];
  return [];
}

/** The value shared_preload_libraries ends up with from the spec: settings win over postgresql_conf. */
export function specPreloadLibraries(spec: ComputeSpecJson): string | null {
  const fromSettings = spec.cluster.settings?.findLast((s) => s.name === "shared_preload_libraries");
  if (fromSettings) return fromSettings.value ?? "";
  let value: string | null = null;
  for (const line of (spec.cluster.postgresql_conf ?? "").split("\n")) {
    const m = /^\s*shared_preload_libraries\s*=?\s*(?:'((?:[^']|'')*)'|([^\s#']*))/.exec(line);
    if (m) value = m[1] !== undefined ? m[1].replaceAll("''", "'") : m[2];
  }
  return value;
}

export function auditConfLines(spec: ComputeSpecJson): string[] {
  const tier = auditTier(spec.audit_log_level);
  if (tier === "none") return [];
  const current = specPreloadLibraries(spec);
  const libs = (current ?? "")
    .split(",")
    .map((l) => l.trim())
    .filter(Boolean);
  for (const lib of auditLibraries(spec.audit_log_level)) if (!libs.includes(lib)) libs.push(lib);
  const preload = `shared_preload_libraries=${quoteConfValue(libs.join(","))}`;
  if (tier === "base") {
    return [
      "# Managed by compute_ctl base audit settings: start",
      "pgaudit.log='ddl,role'",
      "pgaudit.log_catalog=off",
      preload,
      "# Managed by compute_ctl base audit settings: end",
    ];
  }
  const full = spec.audit_log_level === "Full";
  return [
    "# Managed by compute_ctl compliance audit settings: begin",
    full ? "pgaudit.log_parameter=on" : "pgaudit.log_parameter=off",
    full ? "pgaudit.log='all'" : "pgaudit.log='all, -misc'",
    "pgaudit.log_catalog=off",
    "pgaudit.log_rotation_age=5",
    preload,
    "# Managed by compute_ctl compliance audit settings: end",
  ];
}
