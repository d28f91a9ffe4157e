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

export const DELTA_ACTIONS = ["delete_db", "rename_db", "delete_role", "rename_role"] as const;

export const DeltaOpSchema = v.object({
  action: v.picklist(DELTA_ACTIONS),
  name: v.string(),
  new_name: nullish(v.string()),
});

const LSN_PATTERN = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;
export const LsnSchema = v.pipe(v.string(), v.regex(LSN_PATTERN, "expected an LSN like 0/16B5BA8"));

export const ModeSchema = v.union(
  [v.literal("Primary"), v.literal("Replica"), v.strictObject({ Static: LsnSchema })],
  'expected "Primary", "Replica" or {"Static": "X/Y"}',
);

// Values that end up in pgBackRest's config file or in a shell command: one line, printable.
export function hasControlChars(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
const AbsolutePathSchema = v.pipe(
  v.string(),
  v.maxLength(1024, "paths are at most 1024 characters"),
  v.regex(/^\//, "expected an absolute path"),
  v.check((p) => !hasControlChars(p), "paths must not contain control characters (newlines, tabs, ...)"),
  v.check((p) => !p.split("/").includes(".."), "paths must not contain .. segments"),
);
const EnvVarSchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "environment variable names are [A-Za-z_][A-Za-z0-9_]*"),
);
const PositiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));

/** S3 credentials by reference: never inline in the spec. */
export const S3CredentialsSchema = v.variant(
  // (a template literal: test/ops-dockerfile's import scanner reads a quoted from-then-quote as an import)
  `from`,
  [
    v.strictObject({
      from: v.literal("env"),
      key_var: v.optional(EnvVarSchema, "AWS_ACCESS_KEY_ID"),
      secret_var: v.optional(EnvVarSchema, "AWS_SECRET_ACCESS_KEY"),
      token_var: nullish(EnvVarSchema),
    }),
    v.strictObject({ from: v.literal("file"), path: AbsolutePathSchema }),
  ],
  'expected credentials {from: "env", ...} or {from: "file", path: ...} (secrets are never inline)',
);

export const ArchiveRepoSchema = v.variant(
  "type",
  [
    v.strictObject({ type: v.literal("posix"), path: AbsolutePathSchema }),
    v.strictObject({
      type: v.literal("s3"),
      bucket: v.pipe(
        v.string(),
        v.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "S3 bucket names are [a-z0-9.-]{3,63}"),
      ),
      endpoint: v.pipe(
        v.string(),
        v.regex(
          /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/,
          "expected a host name (no scheme, no port)",
        ),
      ),
      region: v.pipe(v.string(), v.regex(/^[a-z0-9-]{1,32}$/, "expected a region like us-east-1")),
      path: v.optional(AbsolutePathSchema, "/"),
      port: nullish(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535))),
      uri_style: v.optional(v.picklist(["host", "path"]), "host"),
      verify_tls: v.optional(v.boolean(), true),
      ca_file: nullish(AbsolutePathSchema),
      credentials: v.optional(S3CredentialsSchema, { from: "env" } as const),
    }),
  ],
  'expected repo {"type": "posix", "path": ...} or {"type": "s3", "bucket": ..., ...}',
);

export const RecoveryTargetSchema = v.union(
  [
    v.strictObject({ lsn: LsnSchema }),
    v.strictObject({
      time: v.pipe(
        v.string(),
        v.regex(
          /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/i,
          "expected an RFC 3339 time with a zone, like 2026-01-31T12:00:00Z",
        ),
        v.check((t) => !Number.isNaN(Date.parse(t)), "not a valid date"),
      ),
    }),
  ],
  'expected {"lsn": "X/Y"} or {"time": "<RFC 3339>"}',
);

export const ArchiveSourceSchema = v.strictObject({
  kind: v.literal("archive"),
  stanza: v.pipe(
    v.string(),
    v.regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "stanza names are [A-Za-z0-9][A-Za-z0-9_-]{0,63}"),
  ),
  repo: ArchiveRepoSchema,
  target: nullish(RecoveryTargetSchema),
  /** A primary on a stanza that does not exist yet creates it (false: refuse, e.g. a repository mount gone missing). */
  bootstrap: v.optional(v.boolean(), true),
  /** archive_timeout: a lost machine loses at most this much of committed work. */
  archive_timeout_seconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(3600)), 60),
  /** Replica: streaming from this primary besides the archive. */
  primary_conninfo: nullish(v.pipe(v.string(), v.minLength(1, "primary_conninfo must not be empty"))),
  /** Periodic backups while running as primary (whichever limit comes first). */
  backup: v.optional(
    v.strictObject({
      type: v.optional(v.picklist(["incr", "diff"]), "incr"),
      interval_seconds: v.optional(PositiveInt, 86_400),
      wal_bytes: v.optional(PositiveInt, 1024 * 1024 * 1024),
      full_interval_seconds: v.optional(PositiveInt, 7 * 86_400),
    }),
    {},
  ),
  /** pgBackRest's repo1-retention-* options. */
  retention: v.optional(
    v.strictObject({
      full: v.optional(v.pipe(PositiveInt, v.maxValue(9999999)), 2),
      full_type: v.optional(v.picklist(["count", "time"]), "count"),
      diff: nullish(v.pipe(PositiveInt, v.maxValue(9999999))),
      archive: nullish(v.pipe(PositiveInt, v.maxValue(9999999))),
      archive_type: nullish(v.picklist(["full", "diff", "incr"])),
    }),
    {},
  ),
  /** The single-writer lease: renewed every ttl/3; another compute may take over after ttl. */
  lease_ttl_seconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(3), v.maxValue(3600)), 60),
});

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
    ArchiveSourceSchema,
  ],
  'expected kind "initdb", "primary", "neon" or "archive"',
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
