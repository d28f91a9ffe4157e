// The ComputeSpec / ComputeConfig JSON as Neon's compute_ctl accepts it, plus our `source` object.
// Field names and shapes follow Neon (see docs/architecture.md); unknown fields are ignored
// (valibot's `object` strips them), Neon-only fields are kept for the sources that use them.
import * as v from "valibot";
import { warmSpecFields } from "./warm-fields.js";

const nullish = <T extends v.GenericSchema>(schema: T) => v.nullish(schema);

export const GenericOptionSchema = v.object({
  name: v.string(),
  value: v.nullable(v.string()),
  vartype: v.string(),
});

export const RoleSchema = v.object({
  name: v.pipe(v.string(), v.minLength(1, "role name must not be empty")),
  encrypted_password: v.optional(v.nullable(v.string()), null),
  options: nullish(v.array(GenericOptionSchema)),
});

export const DatabaseSchema = v.object({
  name: v.pipe(v.string(), v.minLength(1, "database name must not be empty")),
  owner: v.string(),
  options: nullish(v.array(GenericOptionSchema)),
});

export const ClusterSchema = v.object({
  cluster_id: nullish(v.string()),
  name: nullish(v.string()),
  state: nullish(v.string()),
  roles: v.array(RoleSchema),
  databases: v.array(DatabaseSchema),
  postgresql_conf: nullish(v.string()),
  settings: nullish(v.array(GenericOptionSchema)),
});

export const DeltaOpSchema = v.object({
  action: v.string(),
  name: v.string(),
  new_name: nullish(v.string()),
});

const LSN_PATTERN = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;
export const LsnSchema = v.pipe(v.string(), v.regex(LSN_PATTERN, "expected an LSN like 0/16B5BA8"));

export const ModeSchema = v.union(
  [v.literal("Primary"), v.literal("Replica"), v.strictObject({ Static: LsnSchema })],
  'expected "Primary", "Replica" or {"Static": "X/Y"}',
);

export const SourceSchema = v.variant(
  "kind",
  [
    v.object({ kind: v.literal("initdb") }),
    v.object({
      kind: v.literal("primary"),
      connstring: v.pipe(v.string(), v.minLength(1, "connstring must not be empty")),
      slot_name: nullish(v.pipe(v.string(), v.regex(/^[a-z0-9_]{1,63}$/, "slot names are [a-z0-9_]{1,63}"))),
    }),
    v.object({ kind: v.literal("neon") }),
  ],
  'expected kind "initdb", "primary" or "neon"',
);

const PageserverSchema = v.object({
  id: nullish(v.number()),
  libpq_url: nullish(v.string()),
  grpc_url: nullish(v.string()),
});

export const PageserverConnectionInfoSchema = v.object({
  shard_count: v.optional(v.number(), 0),
  stripe_size: nullish(v.number()),
  shards: v.record(v.string(), v.object({ pageservers: v.array(PageserverSchema) })),
  prefer_protocol: v.optional(v.picklist(["libpq", "grpc"]), "libpq"),
});

export const ComputeSpecSchema = v.object({
  format_version: v.number(),
  operation_uuid: nullish(v.string()),
  features: v.optional(v.array(v.string()), []),
  swap_size_bytes: nullish(v.number()),
  disk_quota_bytes: nullish(v.number()),
  disable_lfc_resizing: nullish(v.boolean()),
  cluster: ClusterSchema,
  delta_operations: nullish(v.array(DeltaOpSchema)),
  skip_pg_catalog_updates: v.optional(v.boolean(), false),
  tenant_id: nullish(v.string()),
  timeline_id: nullish(v.string()),
  pageserver_connection_info: nullish(PageserverConnectionInfoSchema),
  pageserver_connstring: nullish(v.string()),
  shard_stripe_size: nullish(v.number()),
  project_id: nullish(v.string()),
  branch_id: nullish(v.string()),
  endpoint_id: nullish(v.string()),
  safekeepers_generation: nullish(v.number()),
  safekeeper_connstrings: v.optional(v.array(v.string()), []),
  mode: v.optional(ModeSchema, "Primary"),
  storage_auth_token: nullish(v.string()),
  reconfigure_concurrency: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1),
  drop_subscriptions_before_start: v.optional(v.boolean(), false),
  audit_log_level: v.optional(v.string(), "Disabled"),
  logs_export_host: nullish(v.string()),
  suspend_timeout_seconds: v.number(),
  source: nullish(SourceSchema),
  // Cache prewarm/offload and remote extensions (src/spec/warm-fields.ts).
  ...warmSpecFields,
});

const JwkSchema = v.looseObject({ kty: v.string() });

// `jwks` absent and `jwks: {"keys": []}` differ: without it there are no token checks, an empty
// key set refuses every token (as in Neon).
export const ComputeCtlConfigSchema = v.object({
  jwks: v.optional(v.object({ keys: v.array(JwkSchema) })),
  tls: nullish(v.object({ key_path: v.string(), cert_path: v.string() })),
});

export const ComputeConfigSchema = v.object({
  spec: v.nullable(ComputeSpecSchema),
  compute_ctl_config: v.optional(ComputeCtlConfigSchema, {}),
});

export const ConfigurationRequestSchema = v.object({
  spec: ComputeSpecSchema,
  compute_ctl_config: v.optional(ComputeCtlConfigSchema, {}),
});
