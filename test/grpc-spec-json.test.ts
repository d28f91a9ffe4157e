// compute.v1.ComputeSpec -> Neon ComputeSpec JSON: every typed field lands where POST /configure
// expects it, unset fields take the JSON defaults, and the core parser accepts the result.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  AuditLogLevel,
  ComputeMode,
  ComputeSpecSchema,
  DeltaAction,
  PageserverProtocol,
} from "../gen/compute/v1/spec_pb.js";
import { configureBody, specToJson } from "../src/api/grpc/index.js";
import { parseConfigurationRequest, parseSpec } from "../src/spec/parse.js";
import { connectClient, startGrpcHarness } from "./support/grpc-harness.js";

const TENANT = "b0554b632bd4d547a63b86c3630317e8";
const TIMELINE = "2414a61ffc94e428f14b5758fe308e13";

const richSpec = () =>
  create(ComputeSpecSchema, {
    formatVersion: 1,
    operationUuid: "0f657b36-4b0f-4a2d-9c2e-1c1b8e1f3a4d",
    features: ["activity_monitor_experimental"],
    swapSizeBytes: 1024n,
    diskQuotaBytes: 2048n,
    disableLfcResizing: true,
    cluster: {
      clusterId: "test-cluster-42",
      name: "Zenith Test",
      state: "restarted",
      roles: [
        { name: "postgres", encryptedPassword: "6b1d16b78004bbd51fa06af9eda75972" },
        { name: 'zenith "new"', options: [{ name: "CREATEDB", vartype: "bool" }] },
      ],
      databases: [
        {
          name: "DB2",
          owner: 'zenith "new"',
          options: [
            { name: "LC_COLLATE", value: "C", vartype: "string" },
            { name: "TEMPLATE", value: "template0", vartype: "enum" },
          ],
        },
      ],
      postgresqlConf: "shared_preload_libraries='neon'",
      settings: [{ name: "fsync", value: "off", vartype: "bool" }],
    },
    deltaOperations: [
      { action: DeltaAction.DELETE_DB, name: "zenith_test" },
      { action: DeltaAction.RENAME_ROLE, name: "zenith new", newName: 'zenith "new"' },
    ],
    skipPgCatalogUpdates: true,
    tenantId: TENANT,
    timelineId: TIMELINE,
    pageserverConnectionInfo: {
      shardCount: 0,
      shards: { "0000": { pageservers: [{ id: 1n, libpqUrl: "postgres://no_user@ps:6400" }] } },
      preferProtocol: PageserverProtocol.GRPC,
    },
    projectId: "p1",
    branchId: "b1",
    endpointId: "ep-1",
    safekeepersGeneration: 3,
    safekeeperConnstrings: ["sk1:5454", "sk2:5454"],
    mode: ComputeMode.STATIC,
    staticLsn: "0/16b5ba8",
    storageAuthToken: "secret-token",
    reconfigureConcurrency: 4,
    dropSubscriptionsBeforeStart: true,
    auditLogLevel: AuditLogLevel.EXTENDED,
    logsExportHost: "logs:10514",
    suspendTimeoutSeconds: 3600n,
    source: { kind: { case: "neon", value: {} } },
    endpointStorageAddr: "endpoint-storage:51243",
    endpointStorageToken: "es-token",
    autoprewarm: true,
    offloadLfcIntervalSeconds: 300,
    remoteExtensions: {
      publicExtensions: ["anon"],
      customExtensions: [],
      libraryIndex: { anon: "anon" },
      extensionData: {
        anon: {
          controlData: { "anon.control": "default_version = '1.1.0'" },
          archivePath: "v15/anon.tar.zst",
        },
      },
    },
    pgbouncerSettings: { default_pool_size: "42", pool_mode: "session" },
    localProxyConfig: {
      jwks: [{ id: "p1", roleNames: ["jwt user"], jwksUrl: "https://idp/jwks", providerName: "idp" }],
      tls: { keyPath: "/k", certPath: "/c" },
    },
  });

const richJson = {
  format_version: 1,
  operation_uuid: "0f657b36-4b0f-4a2d-9c2e-1c1b8e1f3a4d",
  features: ["activity_monitor_experimental"],
  swap_size_bytes: 1024,
  disk_quota_bytes: 2048,
  disable_lfc_resizing: true,
  cluster: {
    cluster_id: "test-cluster-42",
    name: "Zenith Test",
    state: "restarted",
    roles: [
      { name: "postgres", encrypted_password: "6b1d16b78004bbd51fa06af9eda75972", options: [] },
      {
        name: 'zenith "new"',
        encrypted_password: null,
        options: [{ name: "CREATEDB", value: null, vartype: "bool" }],
      },
    ],
    databases: [
      {
        name: "DB2",
        owner: 'zenith "new"',
        options: [
          { name: "LC_COLLATE", value: "C", vartype: "string" },
          { name: "TEMPLATE", value: "template0", vartype: "enum" },
        ],
      },
    ],
    postgresql_conf: "shared_preload_libraries='neon'",
    settings: [{ name: "fsync", value: "off", vartype: "bool" }],
  },
  delta_operations: [
    { action: "delete_db", name: "zenith_test", new_name: undefined },
    { action: "rename_role", name: "zenith new", new_name: 'zenith "new"' },
  ],
  skip_pg_catalog_updates: true,
  tenant_id: TENANT,
  timeline_id: TIMELINE,
  pageserver_connection_info: {
    shard_count: 0,
    stripe_size: undefined,
    shards: {
      "0000": { pageservers: [{ id: 1, libpq_url: "postgres://no_user@ps:6400", grpc_url: undefined }] },
    },
    prefer_protocol: "grpc",
  },
  pageserver_connstring: undefined,
  shard_stripe_size: undefined,
  project_id: "p1",
  branch_id: "b1",
  endpoint_id: "ep-1",
  safekeepers_generation: 3,
  safekeeper_connstrings: ["sk1:5454", "sk2:5454"],
  mode: { Static: "0/16b5ba8" },
  storage_auth_token: "secret-token",
  reconfigure_concurrency: 4,
  drop_subscriptions_before_start: true,
  audit_log_level: "Extended",
  logs_export_host: "logs:10514",
  suspend_timeout_seconds: 3600,
  source: { kind: "neon" },
  endpoint_storage_addr: "endpoint-storage:51243",
  endpoint_storage_token: "es-token",
  autoprewarm: true,
  offload_lfc_interval_seconds: 300,
  remote_extensions: {
    public_extensions: ["anon"],
    custom_extensions: [],
    library_index: { anon: "anon" },
    extension_data: {
      anon: {
        control_data: { "anon.control": "default_version = '1.1.0'" },
        archive_path: "v15/anon.tar.zst",
      },
    },
  },
  pgbouncer_settings: { default_pool_size: "42", pool_mode: "session" },
  local_proxy_config: {
    jwks: [
      {
        id: "p1",
        role_names: ["jwt user"],
        jwks_url: "https://idp/jwks",
        provider_name: "idp",
        jwt_audience: undefined,
      },
    ],
    tls: { key_path: "/k", cert_path: "/c" },
  },
};

test("every typed field maps onto the Neon JSON field the parser reads", () => {
  assert.deepEqual(specToJson(richSpec()), richJson);
  const parsed = parseSpec(specToJson(richSpec()));
  assert.deepEqual(parsed.mode, { kind: "static", lsn: "0/16B5BA8" });
  assert.deepEqual(parsed.source, { kind: "neon" });
  assert.equal(parsed.json.audit_log_level, "Extended");
});

test("an empty spec takes the JSON defaults: primary, initdb, no roles, concurrency 1", () => {
  const json = specToJson(create(ComputeSpecSchema, { suspendTimeoutSeconds: -1n }));
  assert.equal(json.format_version, 1);
  assert.equal(json.mode, "Primary");
  const parsed = parseSpec(json);
  assert.deepEqual([parsed.mode, parsed.source], [{ kind: "primary" }, { kind: "initdb" }]);
  assert.deepEqual([parsed.json.cluster.roles, parsed.json.cluster.databases], [[], []]);
  assert.equal(parsed.json.reconfigure_concurrency, 1);
  assert.equal(parsed.json.audit_log_level, "Disabled");
  assert.equal(parsed.json.suspend_timeout_seconds, -1);
});

test("a replica from a vanilla primary keeps its connstring and slot", () => {
  const body = configureBody(
    create(ComputeSpecSchema, {
      mode: ComputeMode.REPLICA,
      source: {
        kind: { case: "primary", value: { connstring: "host=primary user=repl", slotName: "replica_1" } },
      },
    }),
  );
  const { spec } = parseConfigurationRequest(body);
  assert.deepEqual(spec?.mode, { kind: "replica" });
  assert.deepEqual(spec?.source, {
    kind: "primary",
    connstring: "host=primary user=repl",
    slotName: "replica_1",
  });
});

test("Configure over gRPC hands the core exactly the converted spec", async (t) => {
  const h = await startGrpcHarness({ stepMs: 1 });
  t.after(() => h.close());
  const spec = richSpec();
  spec.mode = ComputeMode.PRIMARY;
  spec.staticLsn = undefined;
  await connectClient("grpc", { socketPath: h.socketPath }).configure({ spec });
  assert.deepEqual(h.api.lastSpec?.json, parseSpec(specToJson(spec)).json);
  assert.equal(h.api.status().tenant, TENANT);
});

test("the archive source: repository, credentials by reference, policies; unset fields take the JSON defaults", () => {
  const s3 = parseConfigurationRequest(
    configureBody(
      create(ComputeSpecSchema, {
        mode: ComputeMode.REPLICA,
        source: {
          kind: {
            case: "archive",
            value: {
              stanza: "main",
              repo: {
                case: "s3",
                value: {
                  bucket: "computes",
                  endpoint: "s3.eu-west-3.amazonaws.com",
                  region: "eu-west-3",
                  path: "/main",
                  uriStyle: "path",
                  verifyTls: false,
                  credentials: { from: { case: "env", value: { keyVar: "K", secretVar: "S" } } },
                },
              },
              primaryConninfo: "host=primary",
              backup: { type: "diff", walBytes: 4096n },
              retention: { full: 3 },
            },
          },
        },
      }),
    ),
  ).spec;
  assert.equal(s3?.source.kind, "archive");
  const a = s3?.source.kind === "archive" ? s3.source.archive : null;
  assert.deepEqual(a?.repo, {
    type: "s3",
    bucket: "computes",
    endpoint: "s3.eu-west-3.amazonaws.com",
    region: "eu-west-3",
    path: "/main",
    port: undefined,
    uri_style: "path",
    verify_tls: false,
    ca_file: undefined,
    credentials: { from: "env", key_var: "K", secret_var: "S", token_var: undefined },
  });
  assert.equal(a?.primary_conninfo, "host=primary");
  assert.deepEqual(a?.backup, {
    type: "diff",
    interval_seconds: 86_400,
    wal_bytes: 4096,
    full_interval_seconds: 604_800,
  });
  assert.equal(a?.retention.full, 3);
  assert.equal(a?.archive_timeout_seconds, 60);

  const stat = parseConfigurationRequest(
    configureBody(
      create(ComputeSpecSchema, {
        mode: ComputeMode.STATIC,
        staticLsn: "0/0",
        source: {
          kind: {
            case: "archive",
            value: {
              stanza: "main",
              repo: { case: "posix", value: { path: "/repo" } },
              targetTime: "2026-01-31T12:00:00Z",
            },
          },
        },
      }),
    ),
  ).spec;
  assert.deepEqual(stat?.source.kind === "archive" && stat.source.target, {
    kind: "time",
    time: "2026-01-31T12:00:00.000Z",
  });
  assert.throws(
    () =>
      configureBody(
        create(ComputeSpecSchema, { source: { kind: { case: "archive", value: { stanza: "main" } } } }),
      ),
    /\$\.spec\.source\.repo: the archive source needs a repository/,
  );
});
