// The start's apply of the spec to the Postgres it just started (postgresql.conf was written
// before Postgres ran): the catalog reconciliation, with the subscription drop of a new branch
// when the spec asks for it in the apply (see drop-subscriptions.ts).
import { applySpecToPostgres } from "../../apply/apply-spec-to-postgres.js";
import type { StartupStep } from "../startup-context.js";
import { subscriptionDropWay } from "./drop-subscriptions.js";

export const applySpecStep: StartupStep = {
  name: "apply_spec",
  metric: "config_ms",
  async run(ctx, { postmaster }) {
    await applySpecToPostgres({ options: ctx.options, osUser: ctx.osUser, postmaster }, ctx.spec, {
      concurrency: "auto",
      applicationName: "compute_ctl:apply_config",
      dropSubscriptions: subscriptionDropWay(ctx.spec) === "apply",
      log: ctx.log.child({ step: "apply_spec" }),
    });
  },
};
