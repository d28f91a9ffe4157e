// Reconciles roles, databases, delta operations and grants with the spec (primary only, and
// not when skip_pg_catalog_updates is set: replicas and static computes never apply SQL).
import { connect } from "../../postgres/connection.js";
import type { ComputeSpec } from "../../spec/types.js";
import type { StartupContext } from "../startup-context.js";
import type { Step } from "./step.js";

export function specAppliesSql(spec: ComputeSpec): boolean {
  return spec.mode.kind === "primary" && !spec.json.skip_pg_catalog_updates;
}

/** Per-database parallelism at start: a share of max_connections, bounded. */
async function startConcurrency(connstr: string): Promise<number> {
  const client = await connect({ connstr }, { applicationName: "compute_ctl:apply_config" });
  try {
    const { rows } = await client.query("SELECT current_setting('max_connections')::int AS n");
    return Math.max(1, Math.min(16, Math.floor(Number(rows[0].n) / 10)));
  } finally {
    await client.end();
  }
}

export const applySpecStep: Step<StartupContext> = {
  name: "apply_spec",
  metric: "config_ms",
  async run(ctx) {
    if (!specAppliesSql(ctx.spec)) return;
    const target = { connstr: ctx.options.connstr };
    const { applySpec } = await import("../../reconcile/index.js");
    await applySpec({
      target,
      spec: ctx.spec.json,
      privilegedRole: ctx.options.privilegedRoleName,
      concurrency: await startConcurrency(ctx.options.connstr),
      log: ctx.log.child({ step: "apply_spec" }),
      applicationName: "compute_ctl:apply_config",
    });
  },
};
