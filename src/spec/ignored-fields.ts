// The spec fields this agent accepts but does not act on, each with the reason: they are logged
// once when the spec is accepted and listed in /status (`ignored`) and the Status RPC, so a
// control plane never believes a field it sent took effect when it did not. Pure: spec in, list
// out. Everything not listed here is applied (docs/neon-compatibility.md, "Spec fields").
import type { ComputeCtlConfig, ComputeSpec } from "./types.js";

export interface IgnoredField {
  /** Path within the spec (`swap_size_bytes`, `features[1]`) or `compute_ctl_config.tls`. */
  field: string;
  reason: string;
}

export interface IgnoredFieldsContext {
  /** The AUTOSCALING environment variable is set (the vm-monitor runs). */
  autoscaling: boolean;
  /** -r/--remote-ext-base-url is given (remote extensions are on). */
  remoteExtensions?: boolean;
  /** The spec arrived by POST /configure or the Configure RPC (not at launch). */
  viaApi: boolean;
  /** compute_ctl_config of that request or of the launch config. */
  computeCtlConfig?: ComputeCtlConfig;
  /** The launch config has compute_ctl_config.tls (Postgres TLS reads it from there only). */
  launchTls?: boolean;
}

const KNOWN_FEATURES = new Set(["activity_monitor_experimental", "tls_experimental"]);

// Fields that only the neon data source reads.
const NEON_STORAGE_FIELDS = [
  "pageserver_connection_info",
  "pageserver_connstring",
  "shard_stripe_size",
  "safekeepers_generation",
  "storage_auth_token",
] as const;

export function ignoredFields(spec: ComputeSpec, ctx: IgnoredFieldsContext): IgnoredField[] {
  const json = spec.json;
  const out: IgnoredField[] = [];
  const ignore = (field: string, reason: string) => out.push({ field, reason });

  if (json.swap_size_bytes != null)
    ignore("swap_size_bytes", "NeonVM swap resizing (--resize-swap-on-bind) does not apply here");
  if (json.disk_quota_bytes != null)
    ignore("disk_quota_bytes", "NeonVM disk quotas (--set-disk-quota-for-fs) do not apply here");
  if (json.disable_lfc_resizing != null && !ctx.autoscaling)
    ignore(
      "disable_lfc_resizing",
      "only the vm-monitor resizes caches, and it runs only with AUTOSCALING set",
    );
  json.features.forEach((f, i) => {
    if (f === "tls_experimental") {
      if (!ctx.launchTls)
        ignore(
          `features[${i}]`,
          "no compute_ctl_config.tls in the launch config (-c or -p): Postgres has no certificate, TLS stays off",
        );
    } else if (!KNOWN_FEATURES.has(f)) ignore(`features[${i}]`, `unknown feature ${JSON.stringify(f)}`);
  });
  if (spec.source.kind !== "neon") {
    for (const f of NEON_STORAGE_FIELDS) {
      if (json[f] != null)
        ignore(f, `only the neon data source uses it (this spec's source is ${spec.source.kind})`);
    }
    if (json.safekeeper_connstrings.length > 0)
      ignore(
        "safekeeper_connstrings",
        `only the neon data source uses it (this spec's source is ${spec.source.kind})`,
      );
  }
  if (json.drop_subscriptions_before_start) {
    if (spec.mode.kind !== "primary")
      ignore(
        "drop_subscriptions_before_start",
        `a ${spec.mode.kind} compute has no subscriptions of its own to drop`,
      );
    else if (json.skip_pg_catalog_updates)
      ignore(
        "drop_subscriptions_before_start",
        "skip_pg_catalog_updates is set: no catalog changes are made",
      );
  }
  if (json.logs_export_host != null)
    ignore(
      "logs_export_host",
      "Postgres's log is forwarded in the agent's own log on stderr (no rsyslog here); ship that instead",
    );
  if (json.remote_extensions != null && !ctx.remoteExtensions)
    ignore(
      "remote_extensions",
      "no -r/--remote-ext-base-url: remote extensions are off (Neon ignores it silently)",
    );
  if (json.databricks_settings != null) ignore("databricks_settings", "Databricks (lakebase mode) only");
  if (ctx.computeCtlConfig?.tls != null) {
    if (ctx.viaApi)
      ignore(
        "compute_ctl_config.tls",
        "Postgres TLS files are read from the launch config only (as in Neon)",
      );
    else if (!json.features.includes("tls_experimental"))
      ignore(
        "compute_ctl_config.tls",
        "Postgres TLS is off: the spec's features lack \"tls_experimental\" (Neon's switch for it)",
      );
  }
  if (ctx.viaApi && ctx.computeCtlConfig?.jwks !== undefined)
    ignore("compute_ctl_config.jwks", "JWT keys are read at launch only (as in Neon)");
  return out;
}
