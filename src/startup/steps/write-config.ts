// Writes postgresql.conf and pg_hba.conf for the spec into the data directory, owned by the
// Postgres OS user. Also used by live reconfiguration (followed by a reload).
import { chownSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { AgentOptions } from "../../cli/options.js";
import { parseConnstr } from "../../postgres/connection.js";
import type { OsUser } from "../../postgres/os-user.js";
import { renderPgHba, renderPostgresqlConf, TEMP_OVERRIDE_FILE } from "../../spec/render-conf.js";
import type { ComputeSpec } from "../../spec/types.js";
import type { StartupContext } from "../startup-context.js";
import { subscriptionDropWay } from "./drop-subscriptions.js";
import type { Step } from "./step.js";

// Synchronous: two small files (a few KB). As async calls on the start's busy event loop their
// completions waited behind other work, many times longer than the writes themselves.
async function writeOwned(file: string, content: string, osUser: OsUser | null): Promise<void> {
  writeFileSync(file, content, { mode: 0o600 });
  if (osUser) chownSync(file, osUser.uid, osUser.gid);
}

export async function writePostgresqlConf(
  spec: ComputeSpec,
  options: AgentOptions,
  sourceLines: readonly string[],
  osUser: OsUser | null,
  /** Turn `ssl` on with the certificate copies (Postgres TLS is on and they are installed). */
  ssl = false,
): Promise<void> {
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
  await writeOwned(path.join(options.pgdata, "postgresql.conf"), conf, osUser);
}

export const writeConfigStep: Step<StartupContext> = {
  name: "write_config",
  metric: "write_config_ms",
  async run(ctx) {
    const { pgdata } = ctx.options;
    const hbaFile = path.join(pgdata, "pg_hba.conf");
    const existing = ctx.source.name === "initdb" ? null : await readFile(hbaFile, "utf8").catch(() => null);
    await Promise.all([
      writePostgresqlConf(
        ctx.spec,
        ctx.options,
        ctx.sourceResult?.confLines ?? [],
        ctx.osUser,
        ctx.postgresTlsPair !== undefined,
      ),
      writeOwned(hbaFile, renderPgHba(parseConnstr(ctx.options.connstr).user, existing), ctx.osUser),
    ]);
    // Neon's Postgres holds its subscription workers back while this is set; the spec apply
    // drops the subscriptions, then empties the file (apply-spec.ts).
    if (subscriptionDropWay(ctx.spec) === "apply")
      await writeOwned(
        path.join(pgdata, TEMP_OVERRIDE_FILE),
        "neon.disable_logical_replication_subscribers=true\n",
        ctx.osUser,
      );
  },
};
