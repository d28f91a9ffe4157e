// POST /configure and the Configure RPC: validate the body, then either start an empty compute
// with it (resolves once `running`, throws when it ends `failed`) or reconfigure a running one
// (throws the reason when that fails; the compute stays `running`).
import type { StatusView } from "../api/compute-api.js";
import { OperationError } from "../errors/operation-error.js";
import * as load from "../loading/modules.js";
import { SpecError } from "../spec/spec-error.js";
import type { ComputeCtlConfig, ComputeSpec } from "../spec/types.js";
import { checkPgdata } from "../startup/pgdata-guard.js";
import { displayStatus } from "../state/status.js";
import { type ComputeRuntime, PROCESS_START, specAgentContext } from "./compute-runtime.js";
import { reconfigureCompute } from "./reconfigure-compute.js";
import { startCompute } from "./start-compute.js";
import { statusView } from "./status-view.js";

// The spec parser (valibot and the schemas) is loaded on first use: an agent starting without a
// spec does not need it to answer probes. A refused spec is thrown as the SpecError it is.
async function parseBody(
  rt: ComputeRuntime,
  body: unknown,
): Promise<{ spec: ComputeSpec; computeCtlConfig: ComputeCtlConfig }> {
  const { parseConfigurationRequest } = await load.specParser();
  const parsed = parseConfigurationRequest(body, specAgentContext(rt.options));
  if (!parsed.spec) throw new SpecError("$.spec", "required field is missing", "shape");
  return { spec: parsed.spec, computeCtlConfig: parsed.computeCtlConfig };
}

export async function configureCompute(rt: ComputeRuntime, body: unknown): Promise<StatusView> {
  const { spec, computeCtlConfig } = await parseBody(rt, body);
  const status = rt.state.status;
  if (status === "running") {
    // Throws the reason when it fails; the compute keeps running either way.
    await reconfigureCompute(rt, spec, computeCtlConfig);
    return statusView(rt);
  }
  if (status !== "empty") {
    throw new OperationError("failed_precondition", `invalid compute status: ${displayStatus(status)}`);
  }
  // A spec for an empty agent starts by wiping -D: refused (412) if it is not the agent's to wipe.
  checkPgdata(rt.options.pgdata, rt.options);
  const now = new Date();
  rt.timings.record("wait_for_spec_ms", now.getTime() - PROCESS_START.getTime());
  rt.state.transition("configuration_pending", { startTime: now });
  void startCompute(rt, spec, "api", computeCtlConfig);
  const end = await rt.state.waitFor(
    (s) => s.status === "running" || s.status === "failed" || s.status.startsWith("termination"),
  );
  if (end.status === "failed") {
    throw new OperationError("internal", `compute configuration failed: ${JSON.stringify(end.error)}`);
  }
  if (end.status !== "running") {
    throw new OperationError("failed_precondition", `the compute was terminated while being configured`);
  }
  return statusView(rt);
}
