// Live reconfiguration of a running compute: rewrite postgresql.conf, reload, and apply the new
// spec's roles/databases without a restart. `running` -> `configuration_pending` ->
// `configuration` -> `running` | `failed` (Postgres keeps running on failure).
import type { ComputeCtlConfig, ComputeSpec } from "../spec/types.js";
import { specAppliesSql } from "../startup/steps/apply-spec.js";
import { writePostgresqlConf } from "../startup/steps/write-config.js";
import { acceptSpec } from "./accept-spec.js";
import type { ComputeRuntime } from "./compute-runtime.js";
import { errorText } from "./start-compute.js";

export async function reconfigureCompute(
  rt: ComputeRuntime,
  spec: ComputeSpec,
  requestConfig?: ComputeCtlConfig,
): Promise<void> {
  const log = rt.log.child({ operation: "reconfigure" });
  log.info({ operation_uuid: spec.json.operation_uuid }, "reconfiguring compute");
  rt.reconfiguring = true;
  try {
    rt.state.transition("configuration_pending");
    rt.state.transition("configuration");
    const t0 = performance.now();
    // The data source stays what it was; mode and source changes need a restart (or /promote).
    const effective: ComputeSpec = Object.freeze({
      ...spec,
      mode: rt.spec?.mode ?? spec.mode,
      source: rt.spec?.source ?? spec.source,
    });
    const ignored = acceptSpec(rt, effective, { viaApi: true, computeCtlConfig: requestConfig, log });
    void rt.sidecars.apply(effective.json);
    await writePostgresqlConf(effective, rt.options, rt.sourceConfLines, rt.osUser);
    rt.postmaster?.signal("SIGHUP");
    if (specAppliesSql(effective)) {
      const { applySpec } = await import("../reconcile/index.js");
      await applySpec({
        target: { connstr: rt.options.connstr },
        spec: effective.json,
        privilegedRole: rt.options.privilegedRoleName,
        concurrency: effective.json.reconfigure_concurrency,
        log,
        applicationName: "compute_ctl:reconfigure",
      });
    }
    rt.spec = effective;
    rt.ignored = ignored;
    log.info({ duration_ms: Math.round(performance.now() - t0) }, "compute reconfigured");
    rt.state.transition("running");
  } catch (err) {
    const text = errorText(err);
    log.error({ error: text }, "reconfiguration failed");
    rt.state.tryTransition("failed", { error: text });
  } finally {
    rt.reconfiguring = false;
  }
}
