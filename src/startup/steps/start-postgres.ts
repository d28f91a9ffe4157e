// Starts the postmaster as a child and waits until it accepts connections.
import { enterCgroup, resolveCgroupDir } from "../../autoscaling/cgroup-dir.js";
import { Postmaster } from "../../postgres/postmaster.js";
import type { StartupContext, StartupStep } from "../startup-context.js";

/** With AUTOSCALING, Postgres runs inside the vm-monitor's cgroup when it exists. */
function placeInCgroup(ctx: StartupContext, pid: number): void {
  const res = enterCgroup(pid, ctx.options.cgroup);
  if (res.ok)
    ctx.log.info({ cgroup: resolveCgroupDir(ctx.options.cgroup) }, "Postgres runs in the autoscaling cgroup");
  else ctx.log.warn({ cgroup: ctx.options.cgroup }, `cannot start Postgres inside the cgroup: ${res.reason}`);
}

export const startPostgresStep: StartupStep = {
  name: "start_postgres",
  metric: "start_postgres_ms",
  async run(ctx) {
    const env: Record<string, string> = {};
    if (ctx.spec.json.storage_auth_token) env.NEON_AUTH_TOKEN = ctx.spec.json.storage_auth_token;
    const postmaster = await Postmaster.start({
      pg: ctx.pg,
      pgdata: ctx.options.pgdata,
      osUser: ctx.osUser,
      // Postgres's stderr goes on long after the start: not under the start's bindings.
      log: ctx.agentLog,
      env,
      shutdownRungS: ctx.options.shutdownEscalationS,
      readyTimeoutMs: Math.min(
        ctx.options.pgReadyTimeoutS * 1000,
        ctx.deadline ? Math.max(1, ctx.deadline - Date.now()) : Number.POSITIVE_INFINITY,
      ),
      onSpawn: (pid) => {
        if (ctx.options.autoscaling) placeInCgroup(ctx, pid);
        ctx.happened?.("postgres_spawned");
      },
    });
    return { postmaster };
  },
};
