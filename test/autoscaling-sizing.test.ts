// The vm-monitor's pure parts: Neon's sizing formulas and number formatting, version
// negotiation, message codecs, memory.stat parsing, cgroup paths and the LFC resize statements.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { parseNonReclaimable } from "../src/autoscaling/cgroup-memory-watcher.js";
import { enterCgroup, resolveCgroupDir } from "../src/autoscaling/index.js";
import { decodeInbound, encodeOutbound } from "../src/autoscaling/messages.js";
import type { MonitorPgSession } from "../src/autoscaling/monitor-pg-session.js";
import { NeonFileCache } from "../src/autoscaling/neon-file-cache.js";
import { negotiate, parseProtocolRange } from "../src/autoscaling/protocol-version.js";
import {
  calculateCacheSize,
  cgroupThreshold,
  formatMebibytes,
  usableMemory,
} from "../src/autoscaling/scaling-config.js";
import { parseListenAddr } from "../src/autoscaling/vm-monitor.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

test("sizing matches the reference's worked values (granted -> usable -> LFC, threshold)", () => {
  const rows: [number, string, string, string][] = [
    [0.25 * GiB, "156", "0", "132.6"],
    [0.5 * GiB, "412", "141", "350.2"],
    [1 * GiB, "924", "607", "785.4"],
    [2 * GiB, "1948", "1461", "1655.8"],
    [4 * GiB, "3996", "2997", "3396.6"],
    [8 * GiB, "8092", "6069", "6878.2"],
  ];
  for (const [granted, usable, lfc, threshold] of rows) {
    const u = usableMemory(granted);
    assert.equal(formatMebibytes(u), usable);
    assert.equal(formatMebibytes(calculateCacheSize(u)), lfc);
    assert.equal(calculateCacheSize(u) % MiB, 0);
    assert.equal(formatMebibytes(cgroupThreshold(u)), threshold);
  }
  assert.equal(usableMemory(50 * MiB), 0);
  assert.equal(calculateCacheSize(0), 0);
});

test("MiB numbers print like Rust's f32 Display", () => {
  assert.equal(formatMebibytes(100 * MiB), "100");
  assert.equal(formatMebibytes(MiB / 2), "0.5");
  assert.equal(formatMebibytes(0), "0");
  assert.equal(formatMebibytes(1), "0.0000009536743");
  assert.equal(formatMebibytes(Math.floor(8 * GiB * 0.85)), "6963.2");
});

test("version negotiation: overlap, no overlap, bad ranges", () => {
  assert.deepEqual(negotiate({ min: 1, max: 1 }), { ok: true, version: 1 });
  assert.deepEqual(negotiate({ min: 1, max: 5 }), { ok: true, version: 1 });
  assert.deepEqual(negotiate({ min: 2, max: 2 }), {
    ok: false,
    error: "Received protocol version range <unknown: 2> which does not overlap with v1.0",
  });
  assert.equal(parseProtocolRange('{"min":1,"max":1}').ok, true);
  assert.equal(parseProtocolRange('{"min":1}').ok, false);
  assert.equal(parseProtocolRange('{"min":1.5,"max":2}').ok, false);
  assert.equal(parseProtocolRange("[1,1]").ok, false);
});

test("message codecs: agent envelopes in, flat monitor messages out", () => {
  assert.deepEqual(
    decodeInbound(
      '{"content":{"granted":{"cpu":0.25,"mem":1073741824}},"type":"UpscaleNotification","id":2}',
    ),
    {
      ok: true,
      message: { type: "UpscaleNotification", id: 2, granted: { cpu: 0.25, mem: GiB } },
    },
  );
  assert.deepEqual(decodeInbound('{"content":{},"type":"HealthCheck","id":4}'), {
    ok: true,
    message: { type: "HealthCheck", id: 4 },
  });
  const bad = decodeInbound('{"content":{"target":{"cpu":1,"mem":-1}},"type":"DownscaleRequest","id":6}');
  assert.equal(bad.ok, false);
  assert.equal(bad.ok === false && bad.id, 6);
  assert.equal(
    encodeOutbound({
      type: "DownscaleResult",
      id: 8,
      ok: false,
      status: "haven't received enough cgroup memory stats yet",
    }),
    '{"type":"DownscaleResult","Ok":false,"Status":"haven\'t received enough cgroup memory stats yet","id":8}',
  );
  assert.equal(encodeOutbound({ type: "UpscaleRequest", id: 5 }), '{"type":"UpscaleRequest","id":5}');
  assert.equal(encodeOutbound({ type: "HealthCheck", id: 10 }), '{"type":"HealthCheck","id":10}');
  assert.equal(
    encodeOutbound({ type: "InternalError", id: 2, error: "x" }),
    '{"type":"InternalError","error":"x","id":2}',
  );
});

test("memory.stat: non-reclaimable = active_anon + inactive_anon", () => {
  assert.equal(parseNonReclaimable("anon 99\nfile 5\nactive_anon 10\ninactive_anon 20\nactive_file 7\n"), 30);
  assert.throws(() => parseNonReclaimable("anon 5\nfile 5\n"), /active_anon/);
});

test("cgroup paths: names under /sys/fs/cgroup, absolute paths as given", () => {
  assert.equal(resolveCgroupDir("neon-postgres"), "/sys/fs/cgroup/neon-postgres");
  assert.equal(resolveCgroupDir("/tmp/x/"), "/tmp/x");
  assert.throws(() => resolveCgroupDir(""), /--cgroup/);
  assert.deepEqual(parseListenAddr("0.0.0.0:10301"), { host: "0.0.0.0", port: 10301 });
  assert.deepEqual(parseListenAddr("[::]:10301"), { host: "::", port: 10301 });
  assert.throws(() => parseListenAddr("10301"), /host:port/);
});

test("enterCgroup writes the pid to cgroup.procs or says why it cannot", (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), "cct-cgroup-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const cg = path.join(root, "pg");
  mkdirSync(cg);
  writeFileSync(path.join(cg, "cgroup.procs"), "");
  assert.deepEqual(enterCgroup(process.pid, cg), { ok: true });
  assert.equal(readFileSync(path.join(cg, "cgroup.procs"), "utf8"), `${process.pid}\n`);

  const missing = enterCgroup(process.pid, path.join(root, "nope"));
  assert.equal(missing.ok, false);
  assert.match(missing.ok ? "" : missing.reason, /does not exist/);

  const notCgroup = enterCgroup(process.pid, root);
  assert.match(notCgroup.ok ? "" : notCgroup.reason, /has no cgroup\.procs/);

  const named = enterCgroup(process.pid, "cct-no-such-cgroup");
  assert.match(named.ok ? "" : named.reason, /\/sys\/fs\/cgroup\/cct-no-such-cgroup does not exist/);
});

test("neon LFC resize: capped by neon.max_file_cache_size, integer MB, then reload", async () => {
  const statements: string[] = [];
  const session = {
    read: async (sql: string) => {
      statements.push(sql);
      return [{ max: String(1024 * MiB) }];
    },
    execute: async (sql: string) => {
      statements.push(sql);
    },
  } as unknown as MonitorPgSession;
  const lfc = new NeonFileCache(session, pino({ level: "silent" }));
  assert.equal(await lfc.resize(usableMemory(GiB)), "set file cache size to 607 MiB");
  assert.deepEqual(statements.slice(1), [
    "ALTER SYSTEM SET neon.file_cache_size_limit = 607",
    "SELECT pg_reload_conf()",
  ]);
  statements.length = 0;
  assert.equal(await lfc.resize(usableMemory(8 * GiB)), "set file cache size to 1024 MiB");
  assert.equal(statements[1], "ALTER SYSTEM SET neon.file_cache_size_limit = 1024");
});
