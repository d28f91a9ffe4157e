// The parser refuses, with the JSON path at fault, every spec whose problem can be known without
// a database: postgresql.conf injection through a setting's name or value (any vartype) or any
// other value written to the file, names Postgres would truncate or cannot store, duplicates,
// contradictory renames, deleting what the agent needs, plain-text passwords, unknown delta
// actions, format versions other than 1.x, non-finite numbers. The renderer quotes every value.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSpec } from "../src/spec/parse.js";
import { renderPostgresqlConf, renderSetting } from "../src/spec/render-conf.js";
import { SpecError } from "../src/spec/spec-error.js";

const AGENT = { superuser: "cloud_admin", privilegedRole: "neon_superuser" };
const MD5 = "6b1d16b78004bbd51fa06af9eda75972";

function spec(cluster: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    format_version: 1,
    suspend_timeout_seconds: -1,
    cluster: { roles: [], databases: [], ...cluster },
    ...extra,
  };
}

function refused(input: unknown, path: string, problem?: RegExp): void {
  assert.throws(
    () => parseSpec(input, "$", AGENT),
    (err: unknown) => {
      assert.ok(err instanceof SpecError, String(err));
      assert.equal(err.path, path, err.message);
      if (problem) assert.match(err.problem, problem);
      return true;
    },
  );
}

const INJECTION = "4MB\narchive_mode = on\narchive_command = 'touch /x/pwned_%f'";

describe("postgresql.conf cannot be broken out of", () => {
  it("a line break in a setting value is refused for every vartype", () => {
    for (const vartype of ["integer", "int", "real", "bool", "enum", "string"]) {
      refused(
        spec({ settings: [{ name: "work_mem", value: INJECTION, vartype }] }),
        "$.cluster.settings[0].value",
        /line break/,
      );
    }
    refused(
      spec({ settings: [{ name: "x.y", value: "a\rarchive_command = 'x'", vartype: "string" }] }),
      "$.cluster.settings[0].value",
      /carriage return/,
    );
    refused(
      spec({ settings: [{ name: "x.y", value: "a\0b", vartype: "string" }] }),
      "$.cluster.settings[0].value",
      /NUL/,
    );
  });

  it("a setting name must be a configuration parameter identifier", () => {
    for (const name of [
      `work_mem = 4MB\narchive_command = 'touch /x/pwned_%f'\nx`,
      "work_mem = 1",
      "a.b.c",
      "1abc",
      "",
      "ünïcode",
      "x y",
      "a'b",
      "#comment",
    ]) {
      refused(spec({ settings: [{ name, value: "1", vartype: "integer" }] }), "$.cluster.settings[0].name");
    }
    assert.doesNotThrow(() =>
      parseSpec(
        spec({
          settings: [
            { name: "neon.tenant_id", value: "abc", vartype: "string" },
            { name: "_x.Y_1", value: "1", vartype: "integer" },
          ],
        }),
      ),
    );
  });

  it("values must fit their vartype; unknown vartypes and null values are refused", () => {
    const bad: [string, string][] = [
      ["bool", "maybe"],
      ["bool", "on off"],
      ["integer", "4MB; x"],
      ["integer", "'1'"],
      ["int", "x"],
      ["real", "0x10"],
      ["real", "1.5.5"],
      ["enum", "hot  standby"],
      ["enum", " on"],
      ["enum", "a'b"],
    ];
    for (const [vartype, value] of bad) {
      refused(spec({ settings: [{ name: "a.b", value, vartype }] }), "$.cluster.settings[0].value");
    }
    const good: [string, string][] = [
      ["bool", "on"],
      ["bool", "OFF"],
      ["bool", "true"],
      ["bool", "0"],
      ["integer", "4MB"],
      ["integer", "-1"],
      ["integer", "0x1F"],
      ["integer", "1.5GB"],
      ["integer", "30 s"],
      ["real", "0.5"],
      ["real", "1e-3"],
      ["real", "2ms"],
      ["enum", "hot_standby"],
      ["enum", "TLSv1.2"],
      ["enum", "read committed"],
      ["string", "it's a \\ and a \" and # and = and 'quotes''"],
    ];
    for (const [vartype, value] of good) {
      assert.doesNotThrow(
        () => parseSpec(spec({ settings: [{ name: "a.b", value, vartype }] })),
        `${vartype} ${value}`,
      );
    }
    refused(
      spec({ settings: [{ name: "a.b", value: "1", vartype: "float" }] }),
      "$.cluster.settings[0].vartype",
    );
    refused(
      spec({ settings: [{ name: "a.b", value: null, vartype: "string" }] }),
      "$.cluster.settings[0].value",
    );
  });

  it("every other spec value written to postgresql.conf is refused with a line break", () => {
    const neon = {
      tenant_id: "b0554b632bd4d547a63b86c3630317e8",
      timeline_id: "2414a61ffc94e428f14b5758fe308e13",
      pageserver_connstring: "postgres://ps:6400",
      safekeeper_connstrings: ["sk1:5454"],
    };
    refused(spec({}, { ...neon, tenant_id: "t\narchive_command = 'x'" }), "$.tenant_id");
    refused(spec({}, { ...neon, endpoint_id: "e\r" }), "$.endpoint_id");
    refused(spec({}, { ...neon, pageserver_connstring: "x\ny" }), "$.pageserver_connstring");
    refused(spec({}, { ...neon, safekeeper_connstrings: ["a:1", "b\n:2"] }), "$.safekeeper_connstrings[1]");
    refused(
      spec({}, { mode: "Replica", source: { kind: "primary", connstring: "host=x\narchive_mode=on" } }),
      "$.source.connstring",
    );
    refused(
      spec(
        {},
        {
          ...neon,
          pageserver_connstring: null,
          pageserver_connection_info: {
            shard_count: 0,
            shards: { "0000": { pageservers: [{ libpq_url: "postgres://a\nb" }] } },
          },
        },
      ),
      "$.pageserver_connection_info.shards.0000.pageservers[0].libpq_url",
    );
  });

  it("the renderer quotes every value as Postgres reads it and refuses what the parser would", () => {
    assert.equal(renderSetting({ name: "work_mem", value: "4MB", vartype: "integer" }), "work_mem = '4MB'");
    assert.equal(
      renderSetting({ name: "x.y", value: "it's a \\ b", vartype: "string" }),
      "x.y = 'it''s a \\\\ b'",
    );
    assert.throws(() => renderSetting({ name: "work_mem", value: INJECTION, vartype: "integer" }));
    assert.throws(() => renderSetting({ name: "a = 1\nb", value: "1", vartype: "integer" }));
    const parsed = parseSpec(spec({ settings: [{ name: "work_mem", value: "4MB", vartype: "integer" }] }));
    const conf = renderPostgresqlConf(
      parsed,
      { port: 5432, socketDir: null, privilegedRoleName: "neon_superuser", internalHttpPort: 3081 },
      [],
    );
    assert.match(conf, /^work_mem = '4MB'$/m);
  });

  it("cluster.postgresql_conf stays verbatim: it is the operator's trusted text", () => {
    const parsed = parseSpec(spec({ postgresql_conf: "fsync = off\nwork_mem = 8MB" }));
    const conf = renderPostgresqlConf(
      parsed,
      { port: 5432, socketDir: null, privilegedRoleName: "p", internalHttpPort: 3081 },
      [],
    );
    assert.ok(conf.startsWith("fsync = off\nwork_mem = 8MB\n"));
  });
});

describe("validation before effects", () => {
  const role = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    encrypted_password: null,
    ...extra,
  });

  it("names over 63 bytes or holding NUL are refused with their path", () => {
    refused(spec({ roles: [role("ok"), role("r".repeat(64))] }), "$.cluster.roles[1].name", /64 bytes/);
    refused(spec({ roles: [role("é".repeat(32))] }), "$.cluster.roles[0].name", /64 bytes/);
    assert.doesNotThrow(() => parseSpec(spec({ roles: [role("r".repeat(63))] }), "$", AGENT));
    refused(spec({ roles: [role("a\0b")] }), "$.cluster.roles[0].name", /NUL/);
    refused(spec({ databases: [{ name: "d", owner: "o".repeat(64) }] }), "$.cluster.databases[0].owner");
    refused(
      spec({}, { delta_operations: [{ action: "rename_role", name: "a", new_name: "b".repeat(64) }] }),
      "$.delta_operations[0].new_name",
    );
    refused(
      spec({
        databases: [{ name: "d", owner: "o", options: [{ name: "x", value: "\0", vartype: "string" }] }],
      }),
      "$.cluster.databases[0].options[0].value",
      /NUL/,
    );
  });

  it("duplicate roles or databases are refused", () => {
    refused(spec({ roles: [role("a"), role("b"), role("a")] }), "$.cluster.roles[2].name", /duplicate role/);
    refused(
      spec({
        databases: [
          { name: "d", owner: "a" },
          { name: "d", owner: "b" },
        ],
      }),
      "$.cluster.databases[1].name",
      /duplicate database/,
    );
  });

  it("renames onto a name the spec already has are refused", () => {
    refused(
      spec(
        { roles: [role("a"), role("b")] },
        { delta_operations: [{ action: "rename_role", name: "a", new_name: "b" }] },
      ),
      "$.delta_operations[0].new_name",
      /lists both/,
    );
    refused(
      spec(
        {},
        {
          delta_operations: [
            { action: "rename_db", name: "x", new_name: "z" },
            { action: "rename_db", name: "y", new_name: "z" },
          ],
        },
      ),
      "$.delta_operations[1].new_name",
      /already the new name/,
    );
    refused(
      spec({}, { delta_operations: [{ action: "rename_role", name: "a" }] }),
      "$.delta_operations[0].new_name",
    );
    // A plain rename (the spec lists only the new name) and a chain are fine.
    assert.doesNotThrow(() =>
      parseSpec(
        spec(
          { roles: [role("c")] },
          {
            delta_operations: [
              { action: "rename_role", name: "a", new_name: "b" },
              { action: "rename_role", name: "b", new_name: "c" },
            ],
          },
        ),
        "$",
        AGENT,
      ),
    );
  });

  it("deleting or renaming what the agent needs is refused", () => {
    const del = (action: string, name: string) =>
      spec({}, { delta_operations: [{ action, name, new_name: "n" }] });
    refused(del("delete_db", "postgres"), "$.delta_operations[0].name", /needs this database/);
    refused(del("delete_db", "template1"), "$.delta_operations[0].name");
    refused(del("rename_db", "postgres"), "$.delta_operations[0].name");
    refused(del("delete_role", "cloud_admin"), "$.delta_operations[0].name", /connects as or manages/);
    refused(del("delete_role", "neon_superuser"), "$.delta_operations[0].name");
    refused(del("rename_role", "cloud_admin"), "$.delta_operations[0].name");
    refused(spec({ roles: [role("neon_superuser")] }), "$.cluster.roles[0].name", /privileged role/);
    assert.doesNotThrow(() => parseSpec(del("delete_db", "appdb"), "$", AGENT));
  });

  it("unknown delta actions are refused", () => {
    refused(
      spec({}, { delta_operations: [{ action: "drop_everything", name: "x" }] }),
      "$.delta_operations[0].action",
      /delete_db.*got "drop_everything"/,
    );
  });

  it("passwords must be md5 hashes or SCRAM-SHA-256 verifiers", () => {
    refused(
      spec({ roles: [role("a", { encrypted_password: "hunter2" })] }),
      "$.cluster.roles[0].encrypted_password",
      /plain-text/,
    );
    refused(
      spec({ roles: [role("a", { encrypted_password: `${MD5}0` })] }),
      "$.cluster.roles[0].encrypted_password",
    );
    const scram =
      "SCRAM-SHA-256$4096:IulBWKIAUpTgBVZhXb0AGA==$/AiXOiZSgRiaZv53/fELEWLzLi06ZCDx/5WlfFrBFlg=:HcpxGiDo+IFeS3WWEwNvgS0v6yfTSQpauiH3uO7caxk=";
    for (const encrypted_password of [MD5, `md5${MD5}`, MD5.toUpperCase(), scram]) {
      assert.doesNotThrow(() => parseSpec(spec({ roles: [role("a", { encrypted_password })] })));
    }
  });

  it("format_version must be 1.x and numbers finite", () => {
    refused({ ...spec(), format_version: 2 }, "$.format_version", /1\.x/);
    refused({ ...spec(), format_version: 0.9 }, "$.format_version");
    assert.doesNotThrow(() => parseSpec({ ...spec(), format_version: 1.5 }));
    refused({ ...spec(), suspend_timeout_seconds: Number.NaN }, "$.suspend_timeout_seconds");
    refused({ ...spec(), swap_size_bytes: Number.POSITIVE_INFINITY }, "$.swap_size_bytes", /finite/);
  });

  it("role and database options are checked by the parser", () => {
    refused(
      spec({
        databases: [
          { name: "x", owner: "o", options: [{ name: "TEMPLATE", value: "t; DROP", vartype: "enum" }] },
        ],
      }),
      "$.cluster.databases[0].options[0]",
    );
    refused(
      spec({ roles: [role("r", { options: [{ name: "LOGIN; --", value: null, vartype: "bool" }] })] }),
      "$.cluster.roles[0].options[0]",
    );
  });
});
