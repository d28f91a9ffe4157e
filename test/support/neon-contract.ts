// Neon's contract as data, written down from its source (github.com/neondatabase/neon at
// 6a35a3e9: compute_tools/src/bin/compute_ctl.rs, libs/compute_api/src/spec.rs, responses.rs),
// and the reader of docs/neon-compatibility.md's tables. A field or flag Neon adds must be added
// here; the tests then fail until the agent and the document know it too.
import { readFileSync } from "node:fs";
import path from "node:path";
import { minimalSpec, REPO } from "./agent.js";

/** Every field of `ComputeSpec`, in spec.rs order. */
export const NEON_COMPUTE_SPEC_FIELDS = [
  "format_version",
  "operation_uuid",
  "features",
  "swap_size_bytes",
  "disk_quota_bytes",
  "disable_lfc_resizing",
  "cluster",
  "delta_operations",
  "skip_pg_catalog_updates",
  "tenant_id",
  "timeline_id",
  "pageserver_connection_info",
  "pageserver_connstring",
  "shard_stripe_size",
  "project_id",
  "branch_id",
  "endpoint_id",
  "safekeepers_generation",
  "safekeeper_connstrings",
  "mode",
  "storage_auth_token",
  "remote_extensions",
  "pgbouncer_settings",
  "local_proxy_config",
  "reconfigure_concurrency",
  "drop_subscriptions_before_start",
  "audit_log_level",
  "logs_export_host",
  "endpoint_storage_addr",
  "endpoint_storage_token",
  "autoprewarm",
  "offload_lfc_interval_seconds",
  "suspend_timeout_seconds",
  "databricks_settings",
] as const;

/** The structs a ComputeSpec (or ComputeConfig) nests, with their deserialized fields. */
export const NEON_NESTED_FIELDS: Record<string, readonly string[]> = {
  Cluster: ["cluster_id", "name", "state", "roles", "databases", "postgresql_conf", "settings"],
  Role: ["name", "encrypted_password", "options"],
  // restrict_conn and invalid are skip_deserializing: output only.
  Database: ["name", "owner", "options"],
  GenericOption: ["name", "value", "vartype"],
  DeltaOp: ["action", "name", "new_name"],
  LocalProxySpec: ["jwks", "tls"],
  JwksSettings: ["id", "role_names", "jwks_url", "provider_name", "jwt_audience"],
  PageserverConnectionInfo: ["shard_count", "stripe_size", "shards", "prefer_protocol"],
  RemoteExtSpec: ["public_extensions", "custom_extensions", "library_index", "extension_data"],
  DatabricksSettings: [
    "pg_compute_tls_settings",
    "databricks_pg_hba",
    "databricks_pg_ident",
    "databricks_workspace_host",
  ],
  ComputeCtlConfig: ["jwks", "tls"],
};

/** Every long flag of Neon's `Cli` (clap, kebab-case), with its short form. */
export const NEON_FLAGS: readonly { long: string; short?: string; value: boolean }[] = [
  { long: "pgbin", short: "b", value: true },
  { long: "remote-ext-base-url", short: "r", value: true },
  { long: "external-http-port", value: true },
  { long: "internal-http-port", value: true },
  { long: "http-port", value: true },
  { long: "pgdata", short: "D", value: true },
  { long: "connstr", short: "C", value: true },
  { long: "privileged-role-name", value: true },
  { long: "cgroup", value: true },
  { long: "filecache-connstr", value: true },
  { long: "vm-monitor-addr", value: true },
  { long: "resize-swap-on-bind", value: false },
  { long: "set-disk-quota-for-fs", value: true },
  { long: "config", short: "c", value: true },
  { long: "compute-id", short: "i", value: true },
  { long: "control-plane-uri", short: "p", value: true },
  { long: "installed-extensions-collection-interval", value: true },
  { long: "dev", value: false },
  { long: "pg-init-timeout", value: true },
  { long: "lakebase-mode", value: true },
];

export const COMPAT_DOC = path.join(REPO, "docs/neon-compatibility.md");

export type Verdict = "same" | "different" | "n/a" | "ignored";

export interface CompatRow {
  /** The first cell without backticks (`--pgbin`, `swap_size_bytes`, `configure-start`). */
  key: string;
  cells: string[];
  verdict: Verdict;
}

/** The rows of the first table under the `## <heading>` section of the compatibility doc. */
export function compatTable(heading: string): CompatRow[] {
  const text = readFileSync(COMPAT_DOC, "utf8");
  const start = text.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`docs/neon-compatibility.md has no "## ${heading}" section`);
  const next = text.indexOf("\n## ", start + 4);
  const section = text.slice(start, next < 0 ? undefined : next);
  const lines = section.split("\n");
  const first = lines.findIndex((l) => l.startsWith("|"));
  const rows: CompatRow[] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith("|")) break;
    const cells = line
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
    const verdict = cells.at(-1) as Verdict;
    if (!["same", "different", "n/a", "ignored"].includes(verdict))
      throw new Error(`unknown verdict ${JSON.stringify(verdict)} in: ${line}`);
    rows.push({ key: cells[0].replaceAll("`", ""), cells, verdict });
  }
  return rows;
}

/** The nested-object table of the spec section: object -> field names. */
export function compatNestedFields(): Map<string, string[]> {
  const text = readFileSync(COMPAT_DOC, "utf8");
  const out = new Map<string, string[]>();
  for (const m of text.matchAll(/^\| `(\w+)` \| (`[^|]*)\|$/gm)) {
    out.set(
      m[1],
      [...m[2].matchAll(/`(\w+)`/g)].map((f) => f[1]),
    );
  }
  return out;
}

/** A route cell `<status> <content type> <shape>[: prose]`, as the conformance table writes it. */
export interface Expectation {
  status: number;
  contentType: "json" | "text" | "none";
  shape: string;
  text: string;
}

export function parseExpectation(cell: string): Expectation {
  const m = /^(\d{3}) (json|text|none) ([^\s:]+)/.exec(cell);
  if (!m) throw new Error(`cannot read the expectation ${JSON.stringify(cell)}`);
  return { status: Number(m[1]), contentType: m[2] as Expectation["contentType"], shape: m[3], text: cell };
}

/** A Neon-shaped spec with every field set (initdb source: the Neon storage fields go unused). */
export function everyFieldSpec(): Record<string, unknown> {
  return minimalSpec({
    operation_uuid: "0f657b36-4b0f-4a2d-9c2a-1e1a2b3c4d5e",
    features: ["activity_monitor_experimental", "tls_experimental", "some_future_feature"],
    swap_size_bytes: 1 << 30,
    disk_quota_bytes: 10 << 30,
    disable_lfc_resizing: true,
    delta_operations: [{ action: "delete_db", name: "no_such_db" }],
    skip_pg_catalog_updates: false,
    tenant_id: "b0554b632bd4d547a63b86c3630317e8",
    timeline_id: "2414a61ffc94e428f14b5758fe308e13",
    pageserver_connection_info: {
      shard_count: 0,
      stripe_size: null,
      shards: { "0000": { pageservers: [{ id: 1, libpq_url: "postgres://no_user@127.0.0.1:1" }] } },
    },
    pageserver_connstring: "postgres://no_user@127.0.0.1:1",
    shard_stripe_size: 32768,
    project_id: "proj-1",
    branch_id: "br-1",
    endpoint_id: "ep-1",
    safekeepers_generation: 2,
    safekeeper_connstrings: ["127.0.0.1:2"],
    mode: "Primary",
    storage_auth_token: "storage-secret-token",
    remote_extensions: { library_index: {}, extension_data: {}, public_extensions: [] },
    reconfigure_concurrency: 2,
    drop_subscriptions_before_start: true,
    audit_log_level: "Full",
    logs_export_host: "collector.example:10514",
    endpoint_storage_addr: "127.0.0.1:1",
    endpoint_storage_token: "endpoint-storage-secret",
    autoprewarm: false,
    offload_lfc_interval_seconds: null,
    databricks_settings: {
      pg_compute_tls_settings: { cert_file: "/c", key_file: "/k", ca_file: "/ca" },
      databricks_pg_hba: "/hba",
      databricks_pg_ident: "/ident",
      databricks_workspace_host: "",
    },
    source: { kind: "initdb" },
  });
}

/** The fields the document marks "ignored" that are set in everyFieldSpec(). */
export const EXPECTED_IGNORED = [
  "remote_extensions",
  "swap_size_bytes",
  "disk_quota_bytes",
  "disable_lfc_resizing",
  "features[1]",
  "features[2]",
  "pageserver_connection_info",
  "pageserver_connstring",
  "shard_stripe_size",
  "safekeepers_generation",
  "storage_auth_token",
  "safekeeper_connstrings",
  "logs_export_host",
  "databricks_settings",
];
