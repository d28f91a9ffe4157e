// Spec fields of prewarm/offload and remote extensions: limits and the cross-field rule, each
// rejection naming the JSON path; control file names and archive paths that would escape their
// directory are refused before anything is written.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSpec } from "../src/spec/parse.js";
import { SpecError } from "../src/spec/spec-error.js";
import { minimalSpec } from "./support/agent.js";

const TENANT = "b0554b632bd4d547a63b86c3630317e8";
const TIMELINE = "2414a61ffc94e428f14b5758fe308e13";
const storage = {
  tenant_id: TENANT,
  timeline_id: TIMELINE,
  endpoint_id: "ep-1",
  endpoint_storage_addr: "endpoint-storage:51243",
  endpoint_storage_token: "tok",
};

function rejects(extra: Record<string, unknown>, path: string, problem?: RegExp): void {
  try {
    parseSpec(minimalSpec(extra));
  } catch (err) {
    assert.ok(err instanceof SpecError, String(err));
    assert.ok(
      err.path === path || err.path.startsWith(`${path}.`),
      `${err.path} is not at ${path}: ${err.message}`,
    );
    if (problem) assert.match(err.problem, problem);
    return;
  }
  assert.fail(`accepted ${JSON.stringify(extra)}`);
}

const ext = (data: Record<string, unknown>) => ({
  remote_extensions: { public_extensions: ["x"], library_index: {}, extension_data: { x: data } },
});

test("valid fields parse with Neon's defaults (autoprewarm false, no interval)", () => {
  const s = parseSpec(minimalSpec({ ...storage, autoprewarm: true, offload_lfc_interval_seconds: 60 }));
  assert.equal(s.json.autoprewarm, true);
  assert.equal(minimalSpec().autoprewarm, undefined);
  assert.equal(parseSpec(minimalSpec()).json.autoprewarm, false);
  // The neon.* settings stand in for the fields, as in Neon.
  const viaSettings = parseSpec(
    minimalSpec({
      autoprewarm: true,
      tenant_id: TENANT,
      timeline_id: TIMELINE,
      endpoint_id: "ep-1",
      cluster: {
        roles: [],
        databases: [],
        settings: [
          { name: "neon.endpoint_storage_addr", value: "es:1", vartype: "string" },
          { name: "neon.endpoint_storage_token", value: "t", vartype: "string" },
        ],
      },
    }),
  );
  assert.equal(viaSettings.json.autoprewarm, true);
});

test("bad values and missing companions name the JSON path", () => {
  rejects({ ...storage, endpoint_storage_addr: "http://es:1/x" }, "$.endpoint_storage_addr", /host:port/);
  rejects({ ...storage, endpoint_storage_addr: "es:70000" }, "$.endpoint_storage_addr", /1\.\.65535/);
  rejects({ ...storage, endpoint_storage_token: "a b" }, "$.endpoint_storage_token");
  rejects({ ...storage, offload_lfc_interval_seconds: 0 }, "$.offload_lfc_interval_seconds");
  rejects({ ...storage, offload_lfc_interval_seconds: 1.5 }, "$.offload_lfc_interval_seconds");
  rejects({ ...storage, autoprewarm: "yes" }, "$.autoprewarm");
  rejects({ ...storage, endpoint_id: "../x" }, "$.endpoint_id");
  rejects({ ...storage, tenant_id: "not-hex" }, "$.tenant_id");
  rejects({ autoprewarm: true }, "$.endpoint_storage_addr", /autoprewarm needs/);
  rejects(
    { ...storage, endpoint_storage_token: undefined, offload_lfc_interval_seconds: 5 },
    "$.endpoint_storage_token",
  );
  rejects({ ...storage, endpoint_id: undefined, autoprewarm: true }, "$.endpoint_id");
});

test("remote_extensions: file names and archive paths cannot leave their directories", () => {
  rejects(
    ext({ control_data: { "../../x.control": "" }, archive_path: "a.tar.zst" }),
    "$.remote_extensions.extension_data.x.control_data",
  );
  rejects(
    ext({ control_data: { "x.sql": "" }, archive_path: "a.tar.zst" }),
    "$.remote_extensions.extension_data.x.control_data",
  );
  rejects(
    ext({ control_data: {}, archive_path: "../a.tar.zst" }),
    "$.remote_extensions.extension_data.x.archive_path",
    /'\.\.'/,
  );
  rejects(
    ext({ control_data: {}, archive_path: "/abs.tar.zst" }),
    "$.remote_extensions.extension_data.x.archive_path",
  );
  rejects(
    ext({ control_data: {}, archive_path: "a.tar.zst?x=1" }),
    "$.remote_extensions.extension_data.x.archive_path",
  );
  rejects(
    ext({ control_data: { "x.control": "x".repeat(70_000) }, archive_path: "a" }),
    "$.remote_extensions.extension_data.x.control_data.x.control",
  );
  rejects(
    { remote_extensions: { public_extensions: ["bad name"], library_index: {}, extension_data: {} } },
    "$.remote_extensions.public_extensions[0]",
  );
  const ok = parseSpec(
    minimalSpec(
      ext({
        control_data: { "x.control": "default_version = '1.0'" },
        archive_path: "5670669815/v15/extensions/x.tar.zst",
      }),
    ),
  );
  assert.equal(
    ok.json.remote_extensions?.extension_data.x.archive_path,
    "5670669815/v15/extensions/x.tar.zst",
  );
});
