// The API listener's protocol sniff: a connection must show which protocol it speaks (HTTP/2's
// preface or an HTTP/1.1 request line) within the sniff timeout, or it is closed; a connection
// that sends only part of the preface and stalls (a slow-loris) is closed the same way, and the
// server keeps serving meanwhile. sniffProtocol itself is checked with a short timeout.
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { HTTP2_PREFACE, SNIFF_TIMEOUT_MS, sniffProtocol } from "../src/api/listener/index.js";
import { connectClient, startGrpcHarness, waitUntil } from "./support/grpc-harness.js";

/**
 * Opens a TCP connection, writes `first`, and resolves with how long the server kept it open,
 * counted from before the connect: the server cannot have accepted it (and started its timer)
 * earlier, while our "connect" event may be handled late on a busy machine.
 */
function openFor(port: number, first: Buffer): Promise<{ ms: number; got: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = net.connect(port, "127.0.0.1");
    let got = 0;
    socket.once("connect", () => {
      if (first.length) socket.write(first);
    });
    socket.on("data", (d) => {
      got += d.length;
    });
    socket.once("close", () => resolve({ ms: performance.now() - t0, got }));
    socket.once("error", reject);
  });
}

test("the listener closes a silent connection and a stalled partial preface after the sniff timeout", async (t) => {
  const h = await startGrpcHarness();
  t.after(() => h.close());
  const silent = openFor(h.server.port, Buffer.alloc(0));
  const partial = openFor(h.server.port, HTTP2_PREFACE.subarray(0, 10));
  // Meanwhile the server answers others.
  const client = connectClient("grpc", { tcpUrl: h.tcpUrl });
  assert.ok((await client.status({})).state);
  for (const [what, closed] of [
    ["silent", await silent],
    ["partial preface", await partial],
  ] as const) {
    // Not before the timeout (timers never fire early); after it, as late as a busy machine makes it.
    assert.ok(closed.ms >= SNIFF_TIMEOUT_MS - 5, `${what}: closed after ${closed.ms} ms`);
    assert.ok(closed.ms < SNIFF_TIMEOUT_MS + 60_000, `${what}: closed after ${closed.ms} ms`);
    assert.equal(closed.got, 0, `${what}: nothing was answered`);
  }
  // Only the client's own HTTP/2 connection stays.
  await waitUntil(() => h.server.connectionCount === 1, "the dropped connections to be forgotten");
});

test("sniffProtocol: HTTP/2 preface, HTTP/1.1, silence and a stalled preface", async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const sniff = async (bytes: Buffer[], timeoutMs: number) => {
      const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
      const client = net.connect(port, "127.0.0.1");
      const socket = await accepted;
      for (const b of bytes) client.write(b);
      const t0 = performance.now();
      try {
        const protocol = await sniffProtocol(socket, timeoutMs);
        // The bytes read were put back for the server that takes the connection.
        socket.resume();
        const head = await new Promise<Buffer>((r) => socket.once("data", r));
        return { protocol, head: head.toString("latin1"), ms: performance.now() - t0 };
      } catch (err) {
        return { error: (err as Error).message, ms: performance.now() - t0 };
      } finally {
        client.destroy();
        socket.destroy();
      }
    };
    const h2 = await sniff([HTTP2_PREFACE.subarray(0, 5), HTTP2_PREFACE.subarray(5)], 60_000);
    assert.deepEqual([h2.protocol, h2.head], ["http2", HTTP2_PREFACE.toString("latin1")]);
    const h1 = await sniff([Buffer.from("GET /healthz HTTP/1.1\r\n")], 60_000);
    assert.deepEqual([h1.protocol, h1.head], ["http1", "GET /healthz HTTP/1.1\r\n"]);
    // "P" could start either; "PRI * HTTP/1" is not the preface.
    const almost = await sniff([Buffer.from("PRI * HTTP/1.1\r\n")], 60_000);
    assert.equal(almost.protocol, "http1");
    const silent = await sniff([], 200);
    assert.match(silent.error ?? "", /no request bytes within 200 ms/);
    assert.ok(silent.ms >= 195, `silent: rejected after ${silent.ms} ms`);
    const stalled = await sniff([HTTP2_PREFACE.subarray(0, 10)], 200);
    assert.match(stalled.error ?? "", /no request bytes within 200 ms/);
  } finally {
    server.close();
  }
});
