// Access policy of /autoscaling_metrics as data: allow-lists over IPv4/IPv6 CIDRs (and IPv4
// clients seen through a dual-stack socket), token-bucket rates with Retry-After, and the
// option syntax the agent's flags use. The HTTP answers (403/429) are tested end to end in
// exporter-endpoints.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createAutoscalingAccess } from "../src/exporter-host/autoscaling-access.js";
import { ClientAllowList } from "../src/exporter-host/client-allow-list.js";
import { ClientRateLimiter, parseRateLimit } from "../src/exporter-host/client-rate-limit.js";

test("allow-list matches IPv4 and IPv6 blocks, single addresses and v4-mapped clients", () => {
  const list = new ClientAllowList("10.0.0.0/8, fd00::/8,192.168.1.7");
  assert.ok(list.allows("10.20.30.40"));
  assert.ok(list.allows("::ffff:10.1.2.3"), "IPv4 client on a dual-stack listener");
  assert.ok(list.allows("fd12:3456::1"));
  assert.ok(list.allows("192.168.1.7"));
  assert.ok(!list.allows("192.168.1.8"));
  assert.ok(!list.allows("127.0.0.1"));
  assert.ok(!list.allows("::1"));
  assert.ok(!list.allows(undefined));
  assert.throws(() => new ClientAllowList("10.0.0.0/33"), /prefix length/);
  assert.throws(() => new ClientAllowList("example.com"), /not an address/);
  assert.throws(() => new ClientAllowList(" , "), /empty/);
});

test("rate specs: per second, per minute, explicit and default burst", () => {
  assert.deepEqual(parseRateLimit("20/s,burst=40"), { perSecond: 20, burst: 40 });
  assert.deepEqual(parseRateLimit("20/s"), { perSecond: 20, burst: 20 });
  assert.deepEqual(parseRateLimit("600/m"), { perSecond: 10, burst: 10 });
  assert.deepEqual(parseRateLimit("5"), { perSecond: 5, burst: 5 });
  assert.deepEqual(parseRateLimit("1/m, burst 3"), { perSecond: 1 / 60, burst: 3 });
  assert.throws(() => parseRateLimit("fast"), /expected RATE/);
  assert.throws(() => parseRateLimit("0/s"), /above 0/);
});

test("token bucket: burst passes, then waits are reported; clients are independent; tokens refill", () => {
  const rl = new ClientRateLimiter({ perSecond: 2, burst: 3 });
  const t = 1_000_000;
  assert.equal(rl.take("a", t), 0);
  assert.equal(rl.take("a", t), 0);
  assert.equal(rl.take("a", t), 0);
  const wait = rl.take("a", t);
  assert.ok(wait > 0.49 && wait <= 0.5, `wait ${wait}`);
  assert.equal(rl.take("b", t), 0, "another client has its own bucket");
  assert.equal(rl.take("a", t + 500), 0, "one token back after 0.5 s at 2/s");
  assert.ok(rl.take("a", t + 500) > 0);
});

test("access policy: off by default; 403 before 429; Retry-After in whole seconds", () => {
  const open = createAutoscalingAccess();
  for (let i = 0; i < 100; i++) assert.deepEqual(open.check("203.0.113.9"), { ok: true });
  const strict = createAutoscalingAccess({ allow: "10.0.0.0/8", rate: "1/m,burst=1" });
  const denied = strict.check("127.0.0.1", 0);
  assert.equal(denied.ok, false);
  assert.equal(!denied.ok && denied.status, 403);
  assert.deepEqual(strict.check("10.0.0.1", 0), { ok: true });
  const limited = strict.check("10.0.0.1", 1000);
  assert.equal(!limited.ok && limited.status, 429);
  assert.equal(!limited.ok && limited.retryAfterS, 59);
  assert.throws(() => createAutoscalingAccess({ rate: "lots" }), /expected RATE/);
});
