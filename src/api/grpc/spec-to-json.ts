// compute.v1.ComputeSpec -> the Neon ComputeSpec JSON `POST /configure` takes, so both APIs feed
// the same parser and the core validates once. Unset optional fields are left out, which lets the
// JSON defaults apply; only what JSON cannot express (enum zero values, mode x static_lsn) is
// checked here, with SpecError paths in the JSON's terms.
import {
  type ArchiveSource,
  AuditLogLevel,
  type Cluster,
  ComputeMode,
  type ComputeSpec,
  type DataSource,
  DeltaAction,
  type DeltaOperation,
  type GenericOption,
  type PageserverConnectionInfo,
  PageserverProtocol,
  type RemoteExtSpec,
} from "../../../gen/compute/v1/spec_pb.js";
import { SpecError } from "../../spec/spec-error.js";

type Json = Record<string, unknown>;

const DELTA_ACTIONS: Record<Exclude<DeltaAction, DeltaAction.UNSPECIFIED>, string> = {
  [DeltaAction.DELETE_DB]: "delete_db",
  [DeltaAction.RENAME_DB]: "rename_db",
  [DeltaAction.DELETE_ROLE]: "delete_role",
  [DeltaAction.RENAME_ROLE]: "rename_role",
};

const AUDIT_LEVELS: Record<Exclude<AuditLogLevel, AuditLogLevel.UNSPECIFIED>, string> = {
  [AuditLogLevel.DISABLED]: "Disabled",
  [AuditLogLevel.LOG]: "Log",
  [AuditLogLevel.BASE]: "Base",
  [AuditLogLevel.HIPAA]: "Hipaa",
  [AuditLogLevel.EXTENDED]: "Extended",
  [AuditLogLevel.FULL]: "Full",
};

function options(list: readonly GenericOption[]): Json[] {
  return list.map((o) => ({ name: o.name, value: o.value ?? null, vartype: o.vartype }));
}

function cluster(c: Cluster | undefined): Json {
  if (!c) return { roles: [], databases: [] };
  return {
    cluster_id: c.clusterId,
    name: c.name,
    state: c.state,
    roles: c.roles.map((r) => ({
      name: r.name,
      encrypted_password: r.encryptedPassword ?? null,
      options: options(r.options),
    })),
    databases: c.databases.map((d) => ({ name: d.name, owner: d.owner, options: options(d.options) })),
    postgresql_conf: c.postgresqlConf,
    settings: options(c.settings),
  };
}

function deltaOperations(ops: readonly DeltaOperation[], path: string): Json[] {
  return ops.map((op, i) => {
    if (op.action === DeltaAction.UNSPECIFIED) {
      throw new SpecError(`${path}[${i}].action`, "action must be set (DELTA_ACTION_DELETE_DB, ...)");
    }
    return { action: DELTA_ACTIONS[op.action], name: op.name, new_name: op.newName };
  });
}

function mode(spec: ComputeSpec, path: string): unknown {
  if (spec.mode === ComputeMode.STATIC) return { Static: spec.staticLsn ?? "" };
  if (spec.staticLsn !== undefined) {
    throw new SpecError(`${path}.static_lsn`, "static_lsn is only allowed with COMPUTE_MODE_STATIC");
  }
  return spec.mode === ComputeMode.REPLICA ? "Replica" : "Primary";
}

function source(s: DataSource | undefined, path: string): Json | undefined {
  if (!s) return undefined;
  switch (s.kind.case) {
    case "initdb":
      return { kind: "initdb" };
    case "neon":
      return { kind: "neon" };
    case "primary":
      return { kind: "primary", connstring: s.kind.value.connstring, slot_name: s.kind.value.slotName };
    case "archive":
      return archiveSource(s.kind.value, path);
    default:
      throw new SpecError(
        `${path}.kind`,
        "source is set but names no kind (initdb, primary, neon or archive)",
      );
  }
}

const big = (n: bigint | undefined) => (n === undefined ? undefined : Number(n));

/** The archive source; its unset fields are left out so the JSON defaults apply. */
function archiveSource(a: ArchiveSource, path: string): Json {
  let repo: Json;
  if (a.repo.case === "posix") repo = { type: "posix", path: a.repo.value.path };
  else if (a.repo.case === "s3") {
    const r = a.repo.value;
    const c = r.credentials?.from;
    const env = c?.case === "env" ? c.value : undefined;
    repo = {
      type: "s3",
      bucket: r.bucket,
      endpoint: r.endpoint,
      region: r.region,
      path: r.path,
      port: r.port,
      uri_style: r.uriStyle,
      verify_tls: r.verifyTls,
      ca_file: r.caFile,
      credentials:
        c?.case === "file"
          ? { from: "file", path: c.value }
          : { from: "env", key_var: env?.keyVar, secret_var: env?.secretVar, token_var: env?.tokenVar },
    };
  } else throw new SpecError(`${path}.repo`, "the archive source needs a repository (posix or s3)");
  return {
    kind: "archive",
    stanza: a.stanza,
    repo,
    target: a.targetTime === undefined ? undefined : { time: a.targetTime },
    archive_timeout_seconds: a.archiveTimeoutSeconds,
    primary_conninfo: a.primaryConninfo,
    backup: a.backup && {
      type: a.backup.type,
      interval_seconds: big(a.backup.intervalSeconds),
      wal_bytes: big(a.backup.walBytes),
      full_interval_seconds: big(a.backup.fullIntervalSeconds),
    },
    retention: a.retention && {
      full: a.retention.full,
      full_type: a.retention.fullType,
      diff: a.retention.diff,
      archive: a.retention.archive,
      archive_type: a.retention.archiveType,
    },
    lease_ttl_seconds: a.leaseTtlSeconds,
    bootstrap: a.bootstrap,
  };
}

function pageserverConnectionInfo(info: PageserverConnectionInfo | undefined): Json | undefined {
  if (!info) return undefined;
  const shards: Record<string, Json> = {};
  for (const [index, shard] of Object.entries(info.shards)) {
    shards[index] = {
      pageservers: shard.pageservers.map((p) => ({
        id: p.id === undefined ? undefined : Number(p.id),
        libpq_url: p.libpqUrl,
        grpc_url: p.grpcUrl,
      })),
    };
  }
  return {
    shard_count: info.shardCount,
    stripe_size: info.stripeSize,
    shards,
    prefer_protocol: info.preferProtocol === PageserverProtocol.GRPC ? "grpc" : "libpq",
  };
}

function remoteExtensions(r: RemoteExtSpec | undefined): Json | undefined {
  if (!r) return undefined;
  const data: Record<string, Json> = {};
  for (const [name, ext] of Object.entries(r.extensionData)) {
    data[name] = { control_data: { ...ext.controlData }, archive_path: ext.archivePath };
  }
  return {
    public_extensions: r.publicExtensions,
    custom_extensions: r.customExtensions,
    library_index: { ...r.libraryIndex },
    extension_data: data,
  };
}

const optionalNumber = (n: bigint | undefined) => (n === undefined ? undefined : Number(n));

/** `path` is where the spec sits in the JSON body (`$.spec`). */
export function specToJson(spec: ComputeSpec, path = "$.spec"): Json {
  return {
    format_version: spec.formatVersion === 0 ? 1.0 : spec.formatVersion,
    operation_uuid: spec.operationUuid,
    features: spec.features,
    swap_size_bytes: optionalNumber(spec.swapSizeBytes),
    disk_quota_bytes: optionalNumber(spec.diskQuotaBytes),
    disable_lfc_resizing: spec.disableLfcResizing,
    cluster: cluster(spec.cluster),
    delta_operations: deltaOperations(spec.deltaOperations, `${path}.delta_operations`),
    skip_pg_catalog_updates: spec.skipPgCatalogUpdates,
    tenant_id: spec.tenantId,
    timeline_id: spec.timelineId,
    pageserver_connection_info: pageserverConnectionInfo(spec.pageserverConnectionInfo),
    pageserver_connstring: spec.pageserverConnstring,
    shard_stripe_size: spec.shardStripeSize,
    project_id: spec.projectId,
    branch_id: spec.branchId,
    endpoint_id: spec.endpointId,
    safekeepers_generation: spec.safekeepersGeneration,
    safekeeper_connstrings: spec.safekeeperConnstrings,
    mode: mode(spec, path),
    storage_auth_token: spec.storageAuthToken,
    reconfigure_concurrency: spec.reconfigureConcurrency === 0 ? undefined : spec.reconfigureConcurrency,
    drop_subscriptions_before_start: spec.dropSubscriptionsBeforeStart,
    audit_log_level:
      spec.auditLogLevel === AuditLogLevel.UNSPECIFIED ? undefined : AUDIT_LEVELS[spec.auditLogLevel],
    logs_export_host: spec.logsExportHost,
    suspend_timeout_seconds: Number(spec.suspendTimeoutSeconds),
    source: source(spec.source, `${path}.source`),
    endpoint_storage_addr: spec.endpointStorageAddr,
    endpoint_storage_token: spec.endpointStorageToken,
    autoprewarm: spec.autoprewarm,
    offload_lfc_interval_seconds: spec.offloadLfcIntervalSeconds,
    remote_extensions: remoteExtensions(spec.remoteExtensions),
    pgbouncer_settings: Object.keys(spec.pgbouncerSettings).length > 0 ? spec.pgbouncerSettings : undefined,
    local_proxy_config: localProxyConfig(spec.localProxyConfig),
  };
}

function localProxyConfig(c: ComputeSpec["localProxyConfig"]): Json | undefined {
  if (!c) return undefined;
  return {
    jwks: c.jwks.map((j) => ({
      id: j.id,
      role_names: j.roleNames,
      jwks_url: j.jwksUrl,
      provider_name: j.providerName,
      jwt_audience: j.jwtAudience,
    })),
    tls: c.tls ? { key_path: c.tls.keyPath, cert_path: c.tls.certPath } : undefined,
  };
}

/** The `POST /configure` body for a ConfigureRequest. Launch-time config (JWKS, TLS) is not sent. */
export function configureBody(spec: ComputeSpec | undefined): Json {
  if (!spec) throw new SpecError("$.spec", "required field is missing (spec)");
  return { spec: specToJson(spec) };
}
