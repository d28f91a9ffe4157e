// Secure defaults of an agent without JWT keys: what changes the compute (configure, terminate,
// promote, check_writability, grants, extensions; the same RPCs) is served to loopback and the
// Unix socket only, and answers 403 with how to configure keys elsewhere; probes and status stay
// open; the internal port binds loopback. --insecure-no-auth restores the old behaviour, with a
// warning. A non-loopback client is a network namespace the test creates (all of 127.0.0.0/8 is
// loopback, so no client on this host could be one), removed afterwards.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ComputeService } from "../gen/compute/v1/compute_service_pb.js";
import { MUTATING_METHODS } from "../src/api/grpc/call-gate.js";
import { isLoopback } from "../src/api/listener/peer-address.js";
import { externalRoutes, internalRoutes } from "../src/api/rest/route-table.js";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { createNetns, type TestNetns } from "./support/netns.js";

describe("what counts as changing the compute", () => {
  it("every REST route that is not a GET, and every RPC that is not a read, is classified as mutating", () => {
    for (const route of [...externalRoutes(), ...internalRoutes()]) {
      if (route.method !== "GET") assert.equal(route.mutating, true, `${route.method} ${route.path}`);
      else assert.ok(!route.mutating, `${route.method} ${route.path}`);
    }
    const reads = new Set([
      "Status",
      "WatchStatus",
      "StreamMetrics",
      "ListDatabasesAndRoles",
      "GetDatabaseSchema",
      "GetInsights",
      "GetInfo",
      "GetLfcPrewarmState",
      "GetLfcOffloadState",
      "WatchLfc",
    ]);
    for (const method of ComputeService.methods) {
      const path = `/${ComputeService.typeName}/${method.name}`;
      assert.equal(MUTATING_METHODS.has(path), !reads.has(method.name), `${method.name}: classify it`);
    }
  });
});

describe("loopback peers", () => {
  it("are 127.0.0.0/8, ::1 and their IPv4-mapped forms; nothing else", () => {
    for (const a of ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1", "::FFFF:127.1.2.3"]) {
      assert.ok(isLoopback(a), a);
    }
    for (const a of ["10.0.0.1", "::ffff:10.0.0.1", "128.0.0.1", "127.0.0.1.evil", "::2", "", undefined]) {
      assert.ok(!isLoopback(a), String(a));
    }
  });
});

let ns: TestNetns;
before(async () => {
  ns = await createNetns();
});
after(() => ns?.remove());

/** curl from inside the namespace: the HTTP status ("000" when it cannot connect) and the body. */
async function curlFromNs(
  url: string,
  opts: { post?: string } = {},
): Promise<{ status: string; body: string }> {
  const args = ["-s", "-m", "20", "-w", "\n%{http_code}", url];
  if (opts.post !== undefined) args.push("-H", "content-type: application/json", "-d", opts.post);
  const { stdout } = await ns.exec("curl", args);
  const cut = stdout.lastIndexOf("\n");
  return { status: stdout.slice(cut + 1), body: stdout.slice(0, cut) };
}

const spec = JSON.stringify({ spec: minimalSpec() });

describe("an agent without keys", () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await startAgent({ name: "secure-defaults", args: ["--http-host", "0.0.0.0"] });
  });
  after(() => agent?.stop());

  it("answers 403 to a non-loopback POST /configure, /terminate and the mutating RPCs, saying how to configure keys", async () => {
    const rest = (p: string) => `http://${ns.hostAddress}:${agent.port}${p}`;
    const configure = await curlFromNs(rest("/configure"), { post: spec });
    assert.equal(configure.status, "403", configure.body);
    assert.match(configure.body, /compute_ctl_config\.jwks.*--insecure-no-auth/);
    assert.equal((await curlFromNs(rest("/terminate"), { post: "" })).status, "403");
    const rpc = await curlFromNs(
      `http://${ns.hostAddress}:${agent.grpcPort}/compute.v1.ComputeService/Terminate`,
      {
        post: "{}",
      },
    );
    assert.equal(rpc.status, "403", rpc.body);
    assert.equal(JSON.parse(rpc.body).code, "permission_denied");
    // Reading stays open: probes, status, the Status RPC.
    assert.equal((await curlFromNs(rest("/healthz"))).status, "200");
    assert.equal((await curlFromNs(rest("/status"))).status, "200");
    const status = await curlFromNs(
      `http://${ns.hostAddress}:${agent.grpcPort}/compute.v1.ComputeService/Status`,
      {
        post: "{}",
      },
    );
    assert.equal(status.status, "200");
    // The internal port is not reachable from outside at all.
    assert.equal(
      (await curlFromNs(`http://${ns.hostAddress}:${agent.internalPort}/grants`, { post: "{}" })).status,
      "000",
    );
    assert.equal((await agent.status()).status, "empty", "nothing changed");
  });

  it("serves the same POST /configure from loopback", async () => {
    const res = await agent.post("/configure", spec);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal((await agent.status()).status, "running");
  });
});

describe("an agent with --insecure-no-auth", () => {
  it("serves a non-loopback POST /configure and logs why that is dangerous", async (t) => {
    const agent = await startAgent({
      name: "insecure",
      args: ["--http-host", "0.0.0.0", "--insecure-no-auth"],
    });
    t.after(() => agent.stop());
    const res = await curlFromNs(`http://${ns.hostAddress}:${agent.port}/configure`, { post: spec });
    assert.equal(res.status, "200", res.body);
    assert.equal(JSON.parse(res.body).status, "running");
    assert.ok(
      agent
        .logEntries()
        .some((e) => e.level === 40 && /--insecure-no-auth without JWT keys/.test(String(e.msg))),
    );
  });
});
