// Starts the postmaster as a child and waits until it accepts connections.
import { Postmaster } from "../../postgres/postmaster.js";
import type { StartupContext } from "../startup-context.js";
import type { Step } from "./step.js";

export const startPostgresStep: Step<StartupContext> = {
  name: "start_postgres",
  metric: "start_postgres_ms",
  async run(ctx) {
    const env: Record<string, string> = {};
    if (ctx.spec.json.storage_auth_token) env.NEON_AUTH_TOKEN = ctx.spec.json.storage_auth_token;
    ctx.postmaster = await Postmaster.start({
      pg: ctx.pg,
      pgdata: ctx.options.pgdata,
      osUser: ctx.osUser,
      log: ctx.log,
      env,
      readyTimeoutMs: ctx.options.pgReadyTimeoutS * 1000,
      onSpawn: () => {},
    });
    ctx.onPostmaster(ctx.postmaster);
  },
};
