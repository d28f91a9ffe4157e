// End to end: `-p` fetches the config from a control plane (a small HTTP server in the test).
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";

const agents: RunningAgent[] = [];
const servers: http.Server[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  for (const s of servers) s.close();
});

async function controlPlane(answers: { status: number; body?: unknown }[]) {
  const seen: { url: string; auth: string | undefined }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? "", auth: req.headers.authorization });
    const a = answers[Math.min(seen.length - 1, answers.length - 1)];
    res.writeHead(a.status, { "content-type": "application/json" });
    res.end(a.body === undefined ? "" : JSON.stringify(a.body));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test("-p: two 503 answers then success start the compute", async () => {
  const cp = await controlPlane([
    { status: 503 },
    { status: 503 },
    {
      status: 200,
      body: {
        status: "attached",
        spec: minimalSpec({ skip_pg_catalog_updates: true }),
        compute_ctl_config: {},
      },
    },
  ]);
  const agent = await startAgent({
    args: ["-p", cp.uri, "-i", "compute-42"],
    env: { NEON_CONTROL_PLANE_TOKEN: "cp-secret-token" },
    name: "control-plane-ok",
  });
  agents.push(agent);
  await agent.waitForStatus("running");
  assert.equal(cp.seen.length, 3);
  assert.equal(cp.seen[0].url, "/compute/api/v2/computes/compute-42/spec");
  assert.equal(cp.seen[0].auth, "Bearer cp-secret-token");
  const metrics = await (await agent.get("/metrics")).text();
  assert.match(
    metrics,
    /compute_ctl_cplane_requests_total\{rpc="GetConfig",http_status="503 Service Unavailable"\} 2/,
  );
  assert.doesNotMatch(agent.logs(), /cp-secret-token/);
});

test("-p: a 404 fails at once with a clear message", async () => {
  const cp = await controlPlane([{ status: 404, body: { error: "no such compute" } }]);
  const agent = await startAgent({ args: ["-p", cp.uri, "-i", "missing"], name: "control-plane-404" });
  agents.push(agent);
  const exit = await agent.exited;
  assert.equal(exit.code, 1);
  assert.equal(cp.seen.length, 1, "no retry on 404");
  assert.match(agent.logs(), /control plane answered HTTP 404/);
});
