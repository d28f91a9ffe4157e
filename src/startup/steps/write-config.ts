// Writes postgresql.conf and pg_hba.conf for the spec into the data directory, owned by the
// Postgres OS user, before Postgres starts (a running one gets its file from src/apply/).
import { readFile } from "node:fs/promises";
import path from "node:path";
import { writeOwnedFile, writePostgresqlConf } from "../../apply/postgresql-conf.js";
import { parseConnstr } from "../../postgres/connection.js";
import { renderPgHba, TEMP_OVERRIDE_FILE } from "../../spec/render-conf.js";
import type { StartupStep } from "../startup-context.js";
import { subscriptionDropWay } from "./drop-subscriptions.js";

export const writeConfigStep: StartupStep = {
  name: "write_config",
  metric: "write_config_ms",
  async run(ctx, { sourceResult, postgresTlsPair }) {
    const { pgdata } = ctx.options;
    const hbaFile = path.join(pgdata, "pg_hba.conf");
    const existing = ctx.source.name === "initdb" ? null : await readFile(hbaFile, "utf8").catch(() => null);
    writePostgresqlConf(
      ctx.spec,
      ctx.options,
      sourceResult?.confLines ?? [],
      ctx.osUser,
      postgresTlsPair !== undefined,
    );
    writeOwnedFile(hbaFile, renderPgHba(parseConnstr(ctx.options.connstr).user, existing), ctx.osUser);
    // Neon's Postgres holds its subscription workers back while this is set; the spec apply
    // drops the subscriptions, then empties the file (apply/apply-spec-to-postgres.ts).
    if (subscriptionDropWay(ctx.spec) === "apply")
      writeOwnedFile(
        path.join(pgdata, TEMP_OVERRIDE_FILE),
        "neon.disable_logical_replication_subscribers=true\n",
        ctx.osUser,
      );
  },
};
