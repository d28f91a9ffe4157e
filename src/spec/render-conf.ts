// Renders postgresql.conf and pg_hba.conf from the spec (pure functions; the write step puts
// them on disk). Order, as Neon writes it: the spec's postgresql_conf verbatim, the agent's own
// settings, the data source's lines, cluster.settings between markers, and a final include for
// temporary overrides (so those win).
import { quoteConfValue } from "../postgres/quote.js";
import { postgresTlsConfLines } from "../tls/postgres-tls-conf.js";
import { auditConfLines } from "./audit-conf.js";
import type { ComputeSpec, GenericOption } from "./types.js";

export const TEMP_OVERRIDE_FILE = "compute_ctl_temp_override.conf";

const GUC_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

/**
 * `name = 'value'`. Unlike Neon, which pastes non-string values as they are, every value is
 * quoted: Postgres reads a quoted value of any type, and nothing in a value can then end the
 * line. The parser has checked name and value (setting-rules.ts); this refuses what slips by.
 */
export function renderSetting(opt: GenericOption): string {
  if (!GUC_NAME.test(opt.name))
    throw new Error(`not a configuration parameter name: ${JSON.stringify(opt.name)}`);
  if (opt.value === null) throw new Error(`setting ${opt.name} has no value`);
  return `${opt.name} = ${quoteConfValue(opt.value)}`;
}

export interface AgentConfLines {
  /** Port from the `-C` connstr. */
  port: number;
  /** Socket directory when the `-C` host is a path. */
  socketDir: string | null;
  privilegedRoleName: string;
  internalHttpPort: number;
  /** Postgres TLS with the certificate copies in the data directory (src/tls/postgres-tls.ts). */
  ssl?: boolean;
}

export function renderPostgresqlConf(
  spec: ComputeSpec,
  agent: AgentConfLines,
  sourceLines: readonly string[],
): string {
  const out: string[] = [];
  const json = spec.json;
  if (json.cluster.postgresql_conf) out.push(json.cluster.postgresql_conf.replace(/\n?$/, ""));
  out.push("# compute_ctl settings");
  out.push(`port = ${agent.port}`);
  if (agent.socketDir) out.push(`unix_socket_directories = ${quoteConfValue(agent.socketDir)}`);
  for (const lc of ["lc_messages", "lc_monetary", "lc_time", "lc_numeric"]) out.push(`${lc} = 'C.UTF-8'`);
  out.push(`neon.privileged_role_name = ${quoteConfValue(agent.privilegedRoleName)}`);
  out.push(`neon.extension_server_port = ${agent.internalHttpPort}`);
  if (agent.ssl) out.push(...postgresTlsConfLines());
  if (sourceLines.length) {
    out.push("# data source settings");
    out.push(...sourceLines);
  }
  if (json.cluster.settings != null) {
    out.push("# Managed by compute_ctl: begin");
    out.push(...json.cluster.settings.map(renderSetting));
    out.push("# Managed by compute_ctl: end");
  }
  // After the settings, so they cannot turn auditing down (as in Neon).
  out.push(...auditConfLines(json));
  out.push(`include_if_exists = ${quoteConfValue(TEMP_OVERRIDE_FILE)}`);
  return `${out.join("\n")}\n`;
}

const HBA_BEGIN = "# compute_ctl: begin";
const HBA_END = "# compute_ctl: end";

/**
 * pg_hba.conf: the agent's superuser may connect without a password over the Unix socket and
 * loopback; every other role logs in with its password (md5 also accepts SCRAM verifiers).
 * Lines from an existing file (a base backup's) are kept after ours.
 */
export function renderPgHba(superuser: string, existing: string | null): string {
  const user = /^[a-z_][a-z0-9_]*$/.test(superuser) ? superuser : `"${superuser.replaceAll('"', '""')}"`;
  const ours = [
    HBA_BEGIN,
    `local\tall\t${user}\ttrust`,
    `host\tall\t${user}\t127.0.0.1/32\ttrust`,
    `host\tall\t${user}\t::1/128\ttrust`,
    `local\treplication\t${user}\ttrust`,
    `host\treplication\t${user}\t127.0.0.1/32\ttrust`,
    HBA_END,
  ];
  const kept = (existing ?? "")
    .replace(new RegExp(`${HBA_BEGIN}[\\s\\S]*?${HBA_END}\\n?`), "")
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  const tail = ["local\tall\tall\tmd5", "host\tall\tall\tall\tmd5", "host\treplication\tall\tall\tmd5"];
  const lines = [...ours, ...kept.filter((l) => !tail.includes(l)), ...tail];
  return `${lines.join("\n")}\n`;
}
