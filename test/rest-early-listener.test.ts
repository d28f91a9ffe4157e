// The REST ports are bound before the agent is loaded (src/api/rest/early-listener.ts): a request
// that arrives in between waits and is answered once the handler is attached; a port in use is
// reported by `listening` without crashing the process.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { EarlyListener } from "../src/api/rest/early-listener.js";

test("requests sent before the handler is attached wait and are answered in order", async (t) => {
  const early = new EarlyListener("127.0.0.1", 0);
  const server = await early.listening;
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const get = (path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
          let body = "";
          res.on("data", (d: Buffer) => {
            body += d.toString();
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on("error", reject);
    });
  const first = get("/one");
  const second = get("/two");
  // Both requests reach the server before there is a handler.
  await new Promise((r) => setTimeout(r, 100));
  const seen: string[] = [];
  early.attach((req, res) => {
    seen.push(req.url ?? "");
    res.end(`hello ${req.url}`);
  });
  assert.deepEqual(await first, { status: 200, body: "hello /one" });
  assert.deepEqual(await second, { status: 200, body: "hello /two" });
  assert.deepEqual(seen.sort(), ["/one", "/two"]);
  // Later requests go straight to the handler.
  assert.deepEqual(await get("/three"), { status: 200, body: "hello /three" });
});

test("a port in use rejects `listening` with EADDRINUSE", async (t) => {
  const taken = http.createServer();
  await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
  t.after(() => new Promise<void>((r) => taken.close(() => r())));
  const early = new EarlyListener("127.0.0.1", (taken.address() as AddressInfo).port);
  await assert.rejects(early.listening, { code: "EADDRINUSE" });
});
