// With Postgres TLS on for this spec (compute_ctl_config.tls + the tls_experimental feature):
// waits for the certificate and key to form a valid pair (--pg-tls-wait-s), then puts Postgres's
// copies into the data directory (src/tls/postgres-tls.ts). After fetch_data, which fills the
// directory, and before write_config, which turns `ssl` on.
import * as load from "../../loading/modules.js";
import type { StartupStep } from "../startup-context.js";

export const postgresTlsStep: StartupStep = {
  name: "postgres_tls",
  metric: "postgres_tls_ms",
  async run(ctx) {
    const files = ctx.postgresTlsFiles;
    if (!files) return;
    // node:crypto and node:tls only for a start that needs them.
    const { installPostgresCertificate, waitForCertificatePair } = await load.postgresTls();
    const pair = await waitForCertificatePair(files, {
      timeoutMs: ctx.options.pgTlsWaitS * 1000,
      signal: ctx.signal,
      log: ctx.log.child({ component: "postgres_tls" }),
    });
    installPostgresCertificate(pair, ctx.options.pgdata, ctx.osUser);
    return { postgresTlsPair: pair };
  },
};
