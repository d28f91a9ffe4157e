// What happens when a spec is taken on (at start and on every reconfiguration), before any step
// runs: the fields without effect here are worked out and logged once each; the caller keeps
// them in the runtime (/status) once the spec is the compute's.
import type { Logger } from "pino";
import { type IgnoredField, ignoredFields } from "../spec/ignored-fields.js";
import type { ComputeCtlConfig, ComputeSpec } from "../spec/types.js";
import type { ComputeRuntime } from "./compute-runtime.js";

export function acceptSpec(
  rt: ComputeRuntime,
  spec: ComputeSpec,
  opts: { viaApi: boolean; computeCtlConfig?: ComputeCtlConfig; log: Logger },
): readonly IgnoredField[] {
  const ignored = ignoredFields(spec, {
    autoscaling: rt.options.autoscaling,
    remoteExtensions: rt.options.remoteExtBaseUrl !== null,
    viaApi: opts.viaApi,
    computeCtlConfig: opts.computeCtlConfig ?? (opts.viaApi ? undefined : rt.computeCtlConfig),
    launchTls: rt.computeCtlConfig.tls != null,
  });
  const before = new Set(rt.ignored.map((i) => `${i.field}\n${i.reason}`));
  for (const i of ignored) {
    if (!before.has(`${i.field}\n${i.reason}`))
      opts.log.warn({ field: i.field, reason: i.reason }, `spec field ${i.field} is ignored here`);
  }
  return ignored;
}
