// postgresql.conf for a spec, written into the data directory owned by the Postgres OS user:
// by the start's write_config step before Postgres runs, and by every apply to a running one.
import { chownSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { AgentOptions } from "../cli/options.js";
import { parseConnstr } from "../postgres/connection.js";
import type { OsUser } from "../postgres/os-user.js";
import { renderPostgresqlConf } from "../spec/render-conf.js";
import type { ComputeSpec } from "../spec/types.js";

/**
 * Synchronous on purpose: the files are small (a few KB). As async calls on the start's busy
 * event loop their completions waited behind other work, many times longer than the writes.
 */
export function writeOwnedFile(file: string, content: string, osUser: OsUser | null): void {
  writeFileSync(file, content, { mode: 0o600 });
  if (osUser) chownSync(file, osUser.uid, osUser.gid);
}

export function postgresqlConfPath(options: Pick<AgentOptions, "pgdata">): string {
  return path.join(options.pgdata, "postgresql.conf");
}

export function writePostgresqlConf(
  spec: ComputeSpec,
  options: AgentOptions,
  sourceLines: readonly string[],
  osUser: OsUser | null,
  /** Turn `ssl` on with the certificate copies (Postgres TLS is on and they are installed). */
  ssl = false,
): void {
  const c = parseConnstr(options.connstr);
  const conf = renderPostgresqlConf(
    spec,
    {
      port: c.port,
      socketDir: c.host.startsWith("/") ? c.host : null,
      privilegedRoleName: options.privilegedRoleName,
      internalHttpPort: options.internalHttpPort,
      ssl,
    },
    sourceLines,
  );
  writeOwnedFile(postgresqlConfPath(options), conf, osUser);
}
