// Every field of Neon's spec.rs is known to the agent and has a row in docs/neon-compatibility.md;
// what the agent does not act on is reported (ignored-fields.ts) exactly where the document says
// "ignored"; invalid values are refused with the status Neon gives them; the audit levels map to
// Neon's pgaudit settings; drop_subscriptions_before_start plans as Neon's phases on the neon
// source. Pure: no Postgres (the full spec against a real agent is in neon-full-spec.test.ts).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type * as v from "valibot";
import type { CatalogSnapshot } from "../src/reconcile/index.js";
import { planSpec } from "../src/reconcile/index.js";
import { auditConfLines, specPreloadLibraries } from "../src/spec/audit-conf.js";
import { ignoredFields } from "../src/spec/ignored-fields.js";
import { parseConfigurationRequest, parseSpec } from "../src/spec/parse.js";
import { renderPostgresqlConf } from "../src/spec/render-conf.js";
import {
  ClusterSchema,
  ComputeCtlConfigSchema,
  ComputeSpecSchema,
  DatabaseSchema,
  DatabricksSettingsSchema,
  DeltaOpSchema,
  GenericOptionSchema,
  LocalProxySpecSchema,
  PageserverConnectionInfoSchema,
  RoleSchema,
} from "../src/spec/schema.js";
import { SpecError } from "../src/spec/spec-error.js";
import { RemoteExtSpecSchema } from "../src/spec/warm-fields.js";
import { subscriptionDropWay } from "../src/startup/steps/drop-subscriptions.js";
import { minimalSpec } from "./support/agent.js";
import {
  compatNestedFields,
  compatTable,
  EXPECTED_IGNORED,
  everyFieldSpec,
  NEON_COMPUTE_SPEC_FIELDS,
  NEON_NESTED_FIELDS,
} from "./support/neon-contract.js";

type AnySchema = v.GenericSchema & { entries?: Record<string, unknown>; wrapped?: unknown; item?: unknown };

/** The object schema inside nullish/optional/array wrappers. */
function entriesOf(schema: unknown): string[] {
  let s = schema as AnySchema;
  while (!s.entries) s = (s.wrapped ?? s.item) as AnySchema;
  return Object.keys(s.entries as object);
}

const OURS: Record<string, unknown> = {
  Cluster: ClusterSchema,
  Role: RoleSchema,
  Database: DatabaseSchema,
  GenericOption: GenericOptionSchema,
  DeltaOp: DeltaOpSchema,
  LocalProxySpec: LocalProxySpecSchema,
  JwksSettings: LocalProxySpecSchema.entries.jwks,
  PageserverConnectionInfo: PageserverConnectionInfoSchema,
  RemoteExtSpec: RemoteExtSpecSchema,
  DatabricksSettings: DatabricksSettingsSchema,
  ComputeCtlConfig: ComputeCtlConfigSchema,
};

describe("every field of Neon's spec.rs", () => {
  test("is in the agent's schema (nothing Neon sends is dropped unseen)", () => {
    const ours = new Set(Object.keys(ComputeSpecSchema.entries));
    for (const f of NEON_COMPUTE_SPEC_FIELDS) assert.ok(ours.has(f), `ComputeSpec.${f} is in the schema`);
    // Ours beyond Neon's: only the data source.
    assert.deepEqual(
      [...ours].filter((f) => !(NEON_COMPUTE_SPEC_FIELDS as readonly string[]).includes(f)),
      ["source"],
    );
    for (const [name, fields] of Object.entries(NEON_NESTED_FIELDS)) {
      assert.deepEqual(entriesOf(OURS[name]).sort(), [...fields].sort(), `${name} fields`);
    }
  });

  test("has a row in docs/neon-compatibility.md, and the nested objects are listed", () => {
    const rows = compatTable("Spec fields");
    assert.deepEqual(
      rows.map((r) => r.key),
      [...NEON_COMPUTE_SPEC_FIELDS],
      "one row per field, in spec.rs order",
    );
    const nested = compatNestedFields();
    for (const [name, fields] of Object.entries(NEON_NESTED_FIELDS))
      assert.deepEqual(nested.get(name), [...fields], `${name} row`);
  });
});

describe("fields without effect here", () => {
  test("are what the document marks ignored, each with a reason", () => {
    const spec = parseSpec(everyFieldSpec());
    const ignored = ignoredFields(spec, { autoscaling: false, viaApi: false });
    assert.deepEqual(ignored.map((i) => i.field).sort(), [...EXPECTED_IGNORED].sort());
    for (const i of ignored) assert.ok(i.reason.length > 10, `${i.field} has a reason`);
    const documented = new Set(
      compatTable("Spec fields")
        .filter((r) => r.verdict === "ignored")
        .map((r) => r.key),
    );
    for (const field of EXPECTED_IGNORED) assert.ok(documented.has(field.replace(/\[\d+\]$/, "")), field);
    assert.deepEqual(
      [...documented].sort(),
      [...new Set(EXPECTED_IGNORED.map((f) => f.replace(/\[\d+\]$/, "")))].sort(),
    );
  });

  test("depend on the compute: the vm-monitor, the neon source, a replica, TLS, /configure's keys", () => {
    const auto = ignoredFields(parseSpec(minimalSpec({ disable_lfc_resizing: true })), {
      autoscaling: true,
      viaApi: false,
    });
    assert.deepEqual(auto, []);
    const replica = parseSpec(
      minimalSpec({
        mode: "Replica",
        drop_subscriptions_before_start: true,
        source: { kind: "primary", connstring: "postgresql://x@127.0.0.1/postgres" },
      }),
    );
    assert.deepEqual(
      ignoredFields(replica, { autoscaling: false, viaApi: false }).map((i) => i.field),
      ["drop_subscriptions_before_start"],
    );
    const skip = parseSpec(
      minimalSpec({ drop_subscriptions_before_start: true, skip_pg_catalog_updates: true }),
    );
    assert.match(
      ignoredFields(skip, { autoscaling: false, viaApi: false })[0].reason,
      /skip_pg_catalog_updates/,
    );
    const tls = ignoredFields(parseSpec(minimalSpec()), {
      autoscaling: false,
      viaApi: true,
      computeCtlConfig: { jwks: { keys: [] }, tls: { key_path: "/k", cert_path: "/c" } },
    });
    assert.deepEqual(
      tls.map((i) => i.field),
      ["compute_ctl_config.tls", "compute_ctl_config.jwks"],
    );
  });
});

function refusal(body: unknown): SpecError {
  try {
    parseConfigurationRequest(body);
  } catch (err) {
    if (err instanceof SpecError) return err;
    throw err;
  }
  throw new Error("accepted");
}

describe("invalid values", () => {
  test("are refused naming the field: shape errors (Neon's 422) and rule errors (its 400)", () => {
    const bogus = refusal({ spec: minimalSpec({ audit_log_level: "Bogus" }) });
    assert.equal(bogus.kind, "unprocessable");
    assert.equal(bogus.path, "$.spec.audit_log_level");
    assert.match(bogus.problem, /"Disabled" \| "Log" \| "Base" \| "Hipaa" \| "Extended" \| "Full".*"Bogus"/);
    for (const id of ["not-hex", "b0554b632bd4d547a63b86c3630317e", "g0554b632bd4d547a63b86c3630317e8"]) {
      const e = refusal({ spec: minimalSpec({ tenant_id: id }) });
      assert.equal(e.kind, "unprocessable");
      assert.equal(e.path, "$.spec.tenant_id");
    }
    assert.equal(refusal({ spec: minimalSpec({ timeline_id: 42 }) }).path, "$.spec.timeline_id");
    assert.equal(refusal({}).kind, "unprocessable");
    assert.equal(
      refusal({ spec: minimalSpec({ pgbouncer_settings: { pool_mode: "x\nlisten_port = 1" } }) }).kind,
      "unprocessable",
    );
    assert.equal(
      refusal({ spec: minimalSpec({ pgbouncer_settings: { "bad key": "1" } }) }).kind,
      "unprocessable",
    );
    assert.equal(
      refusal({ spec: minimalSpec({ logs_export_host: "no-port" }) }).path,
      "$.spec.logs_export_host",
    );
    assert.equal(
      refusal({ spec: minimalSpec({ local_proxy_config: { jwks: [{ id: "x" }] } }) }).kind,
      "unprocessable",
    );
    // Neon's ParsedSpec rules stay 400.
    const dup = refusal({
      spec: minimalSpec({
        tenant_id: "b0554b632bd4d547a63b86c3630317e8",
        timeline_id: "2414a61ffc94e428f14b5758fe308e13",
        pageserver_connstring: "postgres://no_user@127.0.0.1:1",
        safekeeper_connstrings: ["127.0.0.1:2", "127.0.0.1:2"],
      }),
    });
    assert.equal(dup.kind, "invalid_argument");
    assert.match(dup.problem, /duplicate entry in safekeeper_connstrings/);
  });
});

describe("audit_log_level", () => {
  const conf = (level: string, extra: Record<string, unknown> = {}) =>
    auditConfLines(parseSpec(minimalSpec({ audit_log_level: level, ...extra })).json);

  test("maps to Neon's pgaudit settings", () => {
    assert.deepEqual(conf("Disabled"), []);
    for (const level of ["Log", "Base"]) {
      assert.deepEqual(conf(level), [
        "# Managed by compute_ctl base audit settings: start",
        "pgaudit.log='ddl,role'",
        "pgaudit.log_catalog=off",
        "shared_preload_libraries='pgaudit'",
        "# Managed by compute_ctl base audit settings: end",
      ]);
    }
    for (const level of ["Hipaa", "Extended"]) {
      const lines = conf(level);
      assert.ok(lines.includes("pgaudit.log_parameter=off"));
      assert.ok(lines.includes("pgaudit.log='all, -misc'"));
      assert.ok(lines.includes("pgaudit.log_rotation_age=5"));
      assert.ok(lines.includes("shared_preload_libraries='pgaudit,pgauditlogtofile'"));
    }
    const full = conf("Full");
    assert.ok(full.includes("pgaudit.log_parameter=on"));
    assert.ok(full.includes("pgaudit.log='all'"));
  });

  test("adds the libraries to what the spec preloads (settings win over postgresql_conf) and comes last", () => {
    const settings = [
      { name: "shared_preload_libraries", value: "pg_stat_statements,pgaudit", vartype: "string" },
    ];
    const spec = minimalSpec({ audit_log_level: "Base" });
    (spec.cluster as { settings: unknown[] }).settings = settings;
    assert.equal(specPreloadLibraries(parseSpec(spec).json), "pg_stat_statements,pgaudit");
    assert.ok(
      auditConfLines(parseSpec(spec).json).includes("shared_preload_libraries='pg_stat_statements,pgaudit'"),
    );
    const inConf = minimalSpec({ audit_log_level: "Extended" });
    (inConf.cluster as { postgresql_conf: string }).postgresql_conf +=
      "\nshared_preload_libraries = 'pg_stat_statements'  # stats";
    assert.ok(
      auditConfLines(parseSpec(inConf).json).includes(
        "shared_preload_libraries='pg_stat_statements,pgaudit,pgauditlogtofile'",
      ),
    );
    // After cluster.settings, before the temporary overrides (so a setting cannot turn it down).
    const full = parseSpec(minimalSpec({ audit_log_level: "Full" }));
    const rendered = renderPostgresqlConf(
      full,
      { port: 5432, socketDir: null, privilegedRoleName: "neon_superuser", internalHttpPort: 3081 },
      [],
    ).split("\n");
    assert.ok(rendered.indexOf("pgaudit.log='all'") > rendered.indexOf("# Managed by compute_ctl: end"));
    assert.ok(
      rendered.indexOf("pgaudit.log='all'") < rendered.findIndex((l) => l.startsWith("include_if_exists")),
    );
  });
});

function snapshot(over: Partial<CatalogSnapshot> = {}): CatalogSnapshot {
  return {
    agentUser: "postgres",
    systemDatabase: "postgres",
    serverVersion: 150000,
    preloadLibraries: [],
    fsync: true,
    roles: [],
    databases: [
      {
        oid: 5,
        name: "postgres",
        owner: "postgres",
        isTemplate: false,
        allowConnections: true,
        invalid: false,
      },
      { oid: 20, name: "app", owner: "postgres", isTemplate: false, allowConnections: true, invalid: false },
      {
        oid: 21,
        name: "closed",
        owner: "postgres",
        isTemplate: false,
        allowConnections: false,
        invalid: false,
      },
    ],
    privilegedMemberships: [],
    subscriptions: [
      { databaseOid: 20, name: "from parent" },
      { databaseOid: 21, name: "closed sub" },
    ],
    roleDependencies: [],
    setupTable: true,
    databaseSetup: [],
    pgStatStatementsInstalled: false,
    subscriptionsDropped: false,
    systemExtensions: [],
    systemAuditOff: false,
    ...over,
  };
}

describe("drop_subscriptions_before_start", () => {
  const spec = (extra: Record<string, unknown>) =>
    parseSpec(minimalSpec({ drop_subscriptions_before_start: true, ...extra }));

  test("is done by a private Postgres for copied vanilla clusters, in the apply on the neon source", () => {
    assert.equal(subscriptionDropWay(spec({ source: { kind: "initdb" } })), "none");
    assert.equal(
      subscriptionDropWay(spec({ source: { kind: "primary", connstring: "postgresql://p@h/postgres" } })),
      "private_postgres",
    );
    const neon = spec({
      tenant_id: "b0554b632bd4d547a63b86c3630317e8",
      timeline_id: "2414a61ffc94e428f14b5758fe308e13",
      pageserver_connstring: "postgres://no_user@127.0.0.1:1",
      safekeeper_connstrings: ["127.0.0.1:2"],
    });
    assert.equal(subscriptionDropWay(neon), "apply");
    assert.equal(
      subscriptionDropWay(
        spec({ mode: "Replica", source: { kind: "primary", connstring: "postgresql://p@h/x" } }),
      ),
      "none",
    );
  });

  test("plans Neon's phases: each subscription cut from its publisher, then the drop recorded for the key", () => {
    const json = spec({}).json;
    const plan = planSpec({
      spec: json,
      snapshot: snapshot(),
      privilegedRole: "neon_superuser",
      dropSubscriptions: { key: "tl-1" },
    });
    const drops = plan.phases.find((p) => p.name === "drop_subscriptions_before_start");
    assert.ok(drops && drops.kind === "per_database");
    // The database that takes no connections is skipped (as Neon: its workers cannot run either).
    assert.deepEqual(
      drops.tasks.map((t) => t.database),
      ["app"],
    );
    assert.deepEqual(
      drops.tasks[0].statements.map((s) => s.sql),
      [
        'ALTER SUBSCRIPTION "from parent" DISABLE',
        'ALTER SUBSCRIPTION "from parent" SET (slot_name = NONE)',
        `ALTER SUBSCRIPTION "from parent" CONNECTION 'host=/nonexistent/compute_ctl/subscription-dropped port=1 connect_timeout=1'`,
        'DROP SUBSCRIPTION "from parent"',
      ],
    );
    const record = plan.phases.at(-1);
    assert.ok(record && record.kind === "sql" && record.name === "record_subscriptions_dropped");
    assert.match(record.statements.at(-1)?.sql ?? "", /VALUES \(1, 'tl-1'\) ON CONFLICT \(id\) DO UPDATE/);
    // Recorded for this key already: nothing (new subscriptions of the branch stay).
    const again = planSpec({
      spec: json,
      snapshot: snapshot({ subscriptionsDropped: true }),
      privilegedRole: "neon_superuser",
      dropSubscriptions: { key: "tl-1" },
    });
    assert.equal(again.phases.filter((p) => p.name.includes("subscriptions")).length, 0);
    // No key: dropped, nothing recorded; not asked (a reconfiguration): nothing.
    const noKey = planSpec({
      spec: json,
      snapshot: snapshot(),
      privilegedRole: "neon_superuser",
      dropSubscriptions: { key: null },
    });
    assert.ok(noKey.phases.some((p) => p.name === "drop_subscriptions_before_start"));
    assert.ok(!noKey.phases.some((p) => p.name === "record_subscriptions_dropped"));
    const live = planSpec({ spec: json, snapshot: snapshot(), privilegedRole: "neon_superuser" });
    assert.ok(!live.phases.some((p) => p.name.includes("subscriptions")));
  });

  test("audit extensions are planned once the libraries are preloaded, otherwise a warning", () => {
    const json = parseSpec(minimalSpec({ audit_log_level: "Extended" })).json;
    const waiting = planSpec({ spec: json, snapshot: snapshot(), privilegedRole: "neon_superuser" });
    assert.match(waiting.warnings?.[0] ?? "", /takes effect at the next start: pgaudit, pgauditlogtofile/);
    const loaded = planSpec({
      spec: json,
      snapshot: snapshot({ preloadLibraries: ["pgaudit", "pgauditlogtofile"] }),
      privilegedRole: "neon_superuser",
    });
    const sys = loaded.phases.find((p) => p.name === "system_objects");
    assert.ok(sys && sys.kind === "sql");
    assert.deepEqual(
      sys.statements.map((s) => s.sql).filter((s) => /pgaudit/.test(s)),
      [
        "CREATE EXTENSION IF NOT EXISTS pgaudit WITH SCHEMA public",
        "CREATE EXTENSION IF NOT EXISTS pgauditlogtofile WITH SCHEMA public",
        `ALTER DATABASE "postgres" SET pgaudit.log TO 'none'`,
      ],
    );
    const done = planSpec({
      spec: json,
      snapshot: snapshot({
        preloadLibraries: ["pgaudit", "pgauditlogtofile"],
        systemExtensions: ["pgaudit", "pgauditlogtofile"],
        systemAuditOff: true,
      }),
      privilegedRole: "neon_superuser",
    });
    assert.ok(!done.phases.some((p) => p.name === "system_objects"));
  });
});
