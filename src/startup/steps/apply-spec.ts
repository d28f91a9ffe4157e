// Reconciles roles, databases, delta operations and grants with the spec (primary only, and
// not when skip_pg_catalog_updates is set: replicas and static computes never apply SQL).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { TEMP_OVERRIDE_FILE } from "../../spec/render-conf.js";
import type { ComputeSpec } from "../../spec/types.js";
import type { StartupContext } from "../startup-context.js";
import { subscriptionDropWay } from "./drop-subscriptions.js";
import type { Step } from "./step.js";

export function specAppliesSql(spec: ComputeSpec): boolean {
  return spec.mode.kind === "primary" && !spec.json.skip_pg_catalog_updates;
}

export const applySpecStep: Step<StartupContext> = {
  name: "apply_spec",
  metric: "config_ms",
  async run(ctx) {
    if (!specAppliesSql(ctx.spec)) return;
    const target = { connstr: ctx.options.connstr };
    const [{ reconcileSpec }, { dropSubscriptionsKey }] = await Promise.all([
      import("../../reconcile/index.js"),
      import("../../reconcile/subscription-drops.js"),
    ]);
    const dropInApply = subscriptionDropWay(ctx.spec) === "apply";
    await reconcileSpec({
      target,
      spec: ctx.spec.json,
      privilegedRole: ctx.options.privilegedRoleName,
      concurrency: "auto",
      log: ctx.log.child({ step: "apply_spec" }),
      applicationName: "compute_ctl:apply_config",
      dropSubscriptions: dropInApply ? { key: dropSubscriptionsKey(ctx.spec.json) } : undefined,
    });
    if (dropInApply) {
      // The subscriptions are gone: let the workers of new ones run.
      writeFileSync(path.join(ctx.options.pgdata, TEMP_OVERRIDE_FILE), "");
      ctx.postmaster?.signal("SIGHUP");
    }
  },
};
