// The ComputeSpec / ComputeConfig JSON as Neon's compute_ctl accepts it, plus our `source` object.
// Field names and shapes follow Neon (see docs/neon-compatibility.md, "Spec fields"): every
// field of Neon's spec.rs is here, and what a field does (or why it is ignored, see
// ignored-fields.ts) is in that table. Unknown fields are dropped, as Neon's serde drops them.
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

// Neon's TenantId / TimelineId: 16 bytes as 32 hex digits.
const NEON_ID = /^[0-9a-fA-F]{32}$/;
const NeonIdSchema = v.pipe(v.string(), v.regex(NEON_ID, "expected 32 hexadecimal digits"));

/** Neon's ComputeAudit levels (Log and Hipaa are its deprecated spellings of Base and Extended). */
export const AUDIT_LOG_LEVELS = ["Disabled", "Log", "Base", "Hipaa", "Extended", "Full"] as const;

// pgbouncer.ini `[pgbouncer]` settings: names as pgbouncer spells them, values on one line (a
// newline would write a second setting into the file).
export const PgbouncerSettingsSchema = v.record(
  v.pipe(v.string(), v.regex(/^[a-z_][a-z0-9_]{0,63}$/, "pgbouncer setting names are [a-z0-9_]")),
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  v.pipe(v.string(), v.regex(/^[^\u0000-\u001f\u007f]*$/, "a pgbouncer setting value is one line")),
);

const TlsPathsSchema = v.object({ key_path: v.string(), cert_path: v.string() });

/** Neon's LocalProxySpec: local_proxy's JWT providers (and TLS files), written to its config.json. */
export const LocalProxySpecSchema = v.object({
  jwks: nullish(
    v.array(
      v.object({
        id: v.string(),
        role_names: v.array(v.string()),
        jwks_url: v.string(),
        provider_name: v.string(),
        jwt_audience: nullish(v.string()),
      }),
    ),
  ),
  tls: nullish(TlsPathsSchema),
});

/** Neon's DatabricksSettings (lakebase only): checked for its shape, then reported as ignored. */
export const DatabricksSettingsSchema = v.object({
  pg_compute_tls_settings: v.object({ cert_file: v.string(), key_file: v.string(), ca_file: v.string() }),
  databricks_pg_hba: v.string(),
  databricks_pg_ident: v.string(),
  databricks_workspace_host: v.string(),
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
  tenant_id: nullish(NeonIdSchema),
  timeline_id: nullish(NeonIdSchema),
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
  audit_log_level: v.optional(
    v.picklist(AUDIT_LOG_LEVELS, `expected one of ${AUDIT_LOG_LEVELS.join(", ")}`),
    "Disabled",
  ),
  logs_export_host: nullish(
    v.pipe(
      v.string(),
      v.regex(/^[^\s:]+:[0-9]{1,5}$/, "expected host:port (Neon forwards Postgres logs there)"),
    ),
  ),
  suspend_timeout_seconds: v.number(),
  pgbouncer_settings: nullish(PgbouncerSettingsSchema),
  local_proxy_config: nullish(LocalProxySpecSchema),
  databricks_settings: nullish(DatabricksSettingsSchema),
  source: nullish(SourceSchema),
  // Cache prewarm/offload and remote extensions (src/spec/warm-fields.ts).
  ...warmSpecFields,
});

const JwkSchema = v.looseObject({ kty: v.string() });

// `jwks` absent and `jwks: {"keys": []}` differ: without it there are no token checks, an empty
// key set refuses every token (as in Neon).
export const ComputeCtlConfigSchema = v.object({
  jwks: v.optional(v.object({ keys: v.array(JwkSchema) })),
  tls: nullish(TlsPathsSchema),
});

export const ComputeConfigSchema = v.object({
  spec: v.nullable(ComputeSpecSchema),
  compute_ctl_config: v.optional(ComputeCtlConfigSchema, {}),
});

export const ConfigurationRequestSchema = v.object({
  spec: ComputeSpecSchema,
  compute_ctl_config: v.optional(ComputeCtlConfigSchema, {}),
});
