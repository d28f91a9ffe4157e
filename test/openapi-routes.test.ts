// docs/openapi.yaml against the agent: every route of the router tables has an operation and
// every operation a route (with the right server and auth), and real responses of every route,
// successes and errors, validate against the documented status codes, content types and
// schemas (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses it). A deliberately wrong response
// must fail, or the checker proves nothing.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { parse } from "yaml";
import { externalRoutes, internalRoutes } from "../src/api/rest/route-table.js";
import { parseCli } from "../src/cli/args.js";
import { minimalSpec, REPO, type RunningAgent, startAgent } from "./support/agent.js";

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is untyped YAML
type Obj = Record<string, any>;

const doc: Obj = parse(readFileSync(path.join(REPO, "docs/openapi.yaml"), "utf8"));
const METHODS = ["get", "post", "put", "delete", "patch"];

/** A server object's URL with its variables at their defaults (`http://{host}:3080`). */
function serverUrl(server: Obj | undefined): URL {
  const vars: Obj = server?.variables ?? {};
  return new URL(String(server?.url).replace(/\{(\w+)\}/g, (_, name: string) => vars[name].default));
}

/** `#/components/schemas/X` -> a ref into the registered schema set. */
function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node && typeof node === "object") {
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [
        k,
        k === "$ref" && typeof v === "string"
          ? v.replace("#/components/schemas/", "openapi-schemas#/$defs/")
          : rewriteRefs(v),
      ]),
    );
  }
  return node;
}

function createValidator() {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ $id: "openapi-schemas", $defs: rewriteRefs(doc.components.schemas) as Obj });
  const cache = new Map<object, ReturnType<typeof ajv.compile>>();
  const resolve = (o: Obj): Obj =>
    o.$ref
      ? resolve(
          o.$ref
            .split("/")
            .slice(1)
            .reduce((a: Obj, k: string) => a[k], doc),
        )
      : o;

  /** Problems with a response of `method path` (empty when it matches the document). */
  return function check(
    method: string,
    route: string,
    status: number,
    contentType: string | null,
    body: string,
  ): string[] {
    const op = doc.paths[route]?.[method.toLowerCase()];
    if (!op) return [`${method} ${route} is not documented`];
    const documented = op.responses[String(status)];
    if (!documented) return [`${method} ${route}: status ${status} is not documented`];
    const response = resolve(documented);
    if (!response.content)
      return body === "" ? [] : [`${method} ${route} ${status}: body where none is documented`];
    const type = (contentType ?? "").split(";")[0].trim();
    const media = response.content[type];
    if (!media) return [`${method} ${route} ${status}: content-type ${type} is not documented`];
    let value: unknown = body;
    // x-raw-body: labelled JSON but sent as is (Neon's /database_schema SQL).
    if (type === "application/json" && !media["x-raw-body"]) {
      try {
        value = JSON.parse(body);
      } catch {
        return [`${method} ${route} ${status}: body is not JSON`];
      }
    }
    let validate = cache.get(media);
    if (!validate) {
      validate = ajv.compile(rewriteRefs(media.schema) as Obj);
      cache.set(media, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map(
      (e) => `${method} ${route} ${status}: ${e.instancePath || "/"} ${e.message}`,
    );
  };
}

const check = createValidator();

function operations(): { method: string; path: string; op: Obj; servers: Obj[] | undefined }[] {
  return Object.entries(doc.paths as Obj).flatMap(([p, item]) =>
    METHODS.filter((m) => item[m]).map((m) => ({
      method: m.toUpperCase(),
      path: p,
      op: item[m],
      servers: item.servers,
    })),
  );
}

describe("the document and the route tables", () => {
  const defaults = parseCli(["-D", "/d", "-C", "postgresql://postgres@127.0.0.1/postgres"]);
  assert.equal(defaults.kind, "run");
  const { externalHttpPort, internalHttpPort } = (
    defaults as { options: { externalHttpPort: number; internalHttpPort: number } }
  ).options;
  const routes = [
    ...externalRoutes().map((r) => ({ ...r, server: "external" })),
    ...internalRoutes().map((r) => ({ ...r, server: "internal" })),
  ];

  test("the route serves this file, found from src/ as from dist/ (see the served-body check below)", async () => {
    const { installedFile } = await import("../src/cli/install-root.js");
    const { OPENAPI_FILE } = await import("../src/api/rest/routes/openapi.js");
    assert.equal(installedFile(OPENAPI_FILE), path.join(REPO, "docs/openapi.yaml"));
  });

  test("is OpenAPI 3.1 with unique operation ids", () => {
    assert.match(doc.openapi, /^3\.1\./);
    const ids = operations().map((o) => o.op.operationId);
    assert.ok(ids.every(Boolean), "every operation has an operationId");
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(serverUrl(doc.servers[0]).port, String(externalHttpPort));
  });

  test("every route has an operation and every operation a route", () => {
    const documented = new Set(operations().map((o) => `${o.method} ${o.path}`));
    const routed = new Set(routes.map((r) => `${r.method} ${r.path}`));
    assert.deepEqual(
      [...routed].filter((r) => !documented.has(r)),
      [],
      "routes without an OpenAPI operation",
    );
    assert.deepEqual(
      [...documented].filter((d) => !routed.has(d)),
      [],
      "OpenAPI operations without a route",
    );
  });

  test("internal routes name the internal server; JWT exactly on the authenticated routes", () => {
    for (const r of routes) {
      const o = operations().find((x) => x.method === r.method && x.path === r.path);
      if (!o) continue;
      if (r.server === "internal")
        assert.equal(serverUrl(o.servers?.[0]).port, String(internalHttpPort), r.path);
      else assert.equal(o.servers, undefined, `${r.path} is on the default (external) server`);
      const jwt = (o.op.security ?? []).some((s: Obj) => "bearerAuth" in s);
      assert.equal(jwt, r.auth, `${r.method} ${r.path}: security matches route.auth`);
    }
  });

  test("the checker rejects wrong responses", () => {
    const status = {
      start_time: "2026-01-01T00:00:00.000Z",
      status: "running",
      last_active: null,
      error: null,
      tenant: null,
      timeline: null,
      ignored: [{ field: "swap_size_bytes", reason: "NeonVM only" }],
    };
    assert.deepEqual(check("GET", "/status", 200, "application/json", JSON.stringify(status)), []);
    assert.notDeepEqual(
      check("GET", "/status", 200, "application/json", JSON.stringify({ ...status, status: "bogus" })),
      [],
    );
    assert.notDeepEqual(
      check(
        "GET",
        "/status",
        200,
        "application/json",
        JSON.stringify({ ...status, start_time: "yesterday" }),
      ),
      [],
    );
    assert.notDeepEqual(check("GET", "/status", 418, "application/json", JSON.stringify(status)), []);
    assert.notDeepEqual(check("GET", "/status", 200, "text/plain", "running"), []);
    const info = {
      num_cpus: 2,
      memory_bytes: 1 << 30,
      pg_version: "15.1",
      pg_binary: "/usr/lib/postgresql/15/bin/postgres",
      pg_binaries_source: "PATH",
      agent_version: "0.1.0",
      uptime_s: 1,
    };
    assert.deepEqual(check("GET", "/info", 200, "application/json", JSON.stringify(info)), []);
    const { num_cpus: _, ...noCpus } = info;
    assert.notDeepEqual(check("GET", "/info", 200, "application/json", JSON.stringify(noCpus)), []);
    assert.notDeepEqual(check("POST", "/check_writability", 200, "application/json", "false"), []);
    assert.notDeepEqual(
      check("GET", "/database_schema", 404, "application/json", JSON.stringify({ message: "x" })),
      [],
    );
  });
});

describe("real responses of every route", () => {
  let agent: RunningAgent;
  const exercised = new Set<string>();
  const problems: string[] = [];

  async function call(
    method: string,
    route: string,
    opts: { query?: string; body?: unknown; internal?: boolean; path?: string } = {},
  ): Promise<{ status: number; body: string }> {
    const base = opts.internal ? agent.internalUrl : agent.url;
    const res = await fetch(`${base}${opts.path ?? route}${opts.query ?? ""}`, {
      method,
      headers: opts.body === undefined ? {} : { "content-type": "application/json" },
      body:
        opts.body === undefined
          ? undefined
          : typeof opts.body === "string"
            ? opts.body
            : JSON.stringify(opts.body),
    });
    const body = await res.text();
    exercised.add(`${method} ${route}`);
    problems.push(...check(method, route, res.status, res.headers.get("content-type"), body));
    assert.ok(res.headers.get("x-request-id"), `${method} ${route} has x-request-id`);
    return { status: res.status, body };
  }

  const spec = minimalSpec();
  (spec.cluster as Obj).postgresql_conf += "\nshared_preload_libraries = 'pg_stat_statements'";

  before(async () => {
    // The grace keeps the API up for the calls after /terminate, on a busy machine too.
    agent = await startAgent({ name: "openapi", graceS: 30 });
  });
  after(async () => {
    await agent?.stop();
  });

  test("an empty compute: probes say not started, running-only routes 412", async () => {
    assert.equal((await call("GET", "/status")).status, 200);
    assert.equal((await call("GET", "/startupz")).status, 503);
    assert.equal((await call("GET", "/ready")).status, 503);
    assert.equal((await call("GET", "/readyz")).status, 503);
    assert.equal((await call("GET", "/healthz")).status, 200);
    assert.equal((await call("GET", "/insights")).status, 412);
    assert.equal((await call("POST", "/check_writability")).status, 412);
    assert.equal(
      (
        await call("POST", "/grants", {
          internal: true,
          body: { database: "postgres", schema: "public", privileges: ["USAGE"], role: "postgres" },
        })
      ).status,
      412,
    );
    assert.equal((await call("POST", "/configure", { body: "{not json" })).status, 400);
    assert.equal((await call("POST", "/configure", { body: {} })).status, 422);
    assert.equal((await call("POST", "/lfc/prewarm")).status, 412);
    assert.equal((await call("GET", "/lfc/prewarm")).status, 200);
    assert.equal(
      (await call("POST", "/extension_server/{filename}", { internal: true, path: "/extension_server/x" }))
        .status,
      412,
      "no -r",
    );
    assert.deepEqual(problems, []);
  });

  test("a running compute: every route answers as documented", async () => {
    assert.equal((await call("POST", "/configure", { body: { spec } })).status, 200);
    await agent.query("SELECT 1");
    for (const r of [
      "/status",
      "/metrics.json",
      "/metrics",
      "/ready",
      "/readyz",
      "/healthz",
      "/startupz",
      "/dbs_and_roles",
      "/info",
      "/insights",
    ]) {
      assert.equal((await call("GET", r)).status, 200, r);
    }
    const served = await call("GET", "/openapi.json");
    assert.deepEqual(JSON.parse(served.body), doc, "GET /openapi.json is docs/openapi.yaml");
    await call("GET", "/autoscaling_metrics");
    assert.equal((await call("GET", "/database_schema", { query: "?database=postgres" })).status, 200);
    assert.equal((await call("GET", "/database_schema", { query: "?database=nope" })).status, 404);
    assert.equal((await call("GET", "/database_schema")).status, 400);
    assert.equal((await call("POST", "/check_writability")).status, 200);
    // A primary cannot be promoted; whatever it answers must be documented.
    await call("POST", "/promote", { body: { spec, wal_flush_lsn: "0/0" } });
    const grants = { database: "postgres", schema: "public", privileges: ["USAGE"], role: "postgres" };
    assert.equal((await call("POST", "/grants", { internal: true, body: grants })).status, 201);
    assert.equal(
      (await call("POST", "/grants", { internal: true, body: { ...grants, privileges: [] } })).status,
      422,
    );
    const ext = { extension: "plpgsql", database: "postgres", version: "1.0" };
    assert.equal((await call("POST", "/extensions", { internal: true, body: ext })).status, 201);
    // Without endpoint storage in the spec the operations start and then fail (as Neon).
    assert.equal((await call("POST", "/lfc/offload")).status, 202);
    assert.equal((await call("POST", "/lfc/prewarm")).status, 202);
    assert.equal((await call("POST", "/lfc/prewarm", { query: "?from_endpoint=a/b" })).status, 400);
    assert.equal((await call("DELETE", "/lfc/prewarm")).status, 202);
    for (const end = Date.now() + 60_000; Date.now() < end; ) {
      const [p, o] = await Promise.all([call("GET", "/lfc/prewarm"), call("GET", "/lfc/offload")]);
      if (!p.body.includes("prewarming") && !o.body.includes("offloading")) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal((await call("POST", "/configure", { body: { spec } })).status, 200, "reconfigure");
    assert.equal((await call("POST", "/terminate", { query: "?mode=bogus" })).status, 400);
    assert.equal((await call("POST", "/terminate", { query: "?mode=fast" })).status, 200);
    assert.equal((await call("POST", "/terminate")).status, 201, "already terminated");
    assert.equal((await call("POST", "/configure", { body: { spec } })).status, 412);
    assert.deepEqual(problems, []);
  });

  test("every route of the tables was exercised", () => {
    const all = [...externalRoutes(), ...internalRoutes()].map((r) => `${r.method} ${r.path}`);
    assert.deepEqual(
      all.filter((r) => !exercised.has(r)),
      [],
      "routes without a real response checked",
    );
  });
});
