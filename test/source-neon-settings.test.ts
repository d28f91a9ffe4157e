// Neon storage as data: which spec fields become which postgresql.conf lines (reference §2.5),
// where the storage is resolved from, the basebackup command, and when safekeepers count as synced.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSpec } from "../src/spec/parse.js";
import { basebackupCommand } from "../src/startup/sources/neon-pageserver-basebackup.js";
import { syncedLsn } from "../src/startup/sources/neon-safekeepers-check.js";
import { neonConfLines } from "../src/startup/sources/neon-settings.js";
import { basebackupPageserverUrl, resolveNeonStorage } from "../src/startup/sources/neon-storage.js";
import { specJson } from "./support/source-context.js";

const ids = {
  tenant_id: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  timeline_id: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
};

test("sharded pageserver_connection_info: stripe size, one URL per shard, generation-prefixed safekeepers", () => {
  const spec = parseSpec(
    specJson({
      ...ids,
      pageserver_connection_info: {
        shard_count: 2,
        stripe_size: 2048,
        shards: {
          "0002": {
            pageservers: [
              { id: 1, libpq_url: "postgres://no_user@ps1:6400" },
              { libpq_url: "postgres://no_user@ps9:6400" },
            ],
          },
          "0102": { pageservers: [{ id: 2, libpq_url: "postgres://no_user@ps2:6400" }] },
        },
      },
      safekeeper_connstrings: ["sk1:5454", "sk2:5454", "sk3:5454"],
      safekeepers_generation: 7,
      endpoint_id: "ep-o'brien",
    }),
  );
  assert.deepEqual(neonConfLines(spec), [
    "# Neon storage settings",
    "",
    "neon.stripe_size=2048",
    "neon.pageserver_connstring='postgres://no_user@ps1:6400,postgres://no_user@ps2:6400'",
    "neon.safekeepers='g#7:sk1:5454,sk2:5454,sk3:5454'",
    "neon.tenant_id='aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'",
    "neon.timeline_id='bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'",
    "neon.endpoint_id='ep-o''brien'",
    "neon.compute_mode=primary",
  ]);
  const storage = resolveNeonStorage(spec);
  assert.deepEqual(storage.shardUrls, ["postgres://no_user@ps1:6400", "postgres://no_user@ps2:6400"]);
});

test("a shard without a libpq URL writes the 'no connstring' comment", () => {
  const spec = parseSpec(
    specJson({
      ...ids,
      mode: "Replica",
      pageserver_connection_info: {
        shard_count: 0,
        shards: { "0000": { pageservers: [{ grpc_url: "grpc://ps:51051" }] } },
      },
    }),
  );
  assert.deepEqual(neonConfLines(spec), [
    "# Neon storage settings",
    "",
    "# no neon.pageserver_connstring",
    "neon.tenant_id='aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'",
    "neon.timeline_id='bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'",
    "neon.compute_mode=replica",
    "hot_standby=on",
  ]);
  assert.throws(() => basebackupPageserverUrl(resolveNeonStorage(spec)), /shard 0 has no libpq_url/);
});

test("legacy pageserver_connstring and shard_stripe_size; Static adds hot_standby and recovery_target_lsn", () => {
  const spec = parseSpec(
    specJson({
      ...ids,
      pageserver_connstring: "postgres://no_user@ps:6400",
      shard_stripe_size: 32768,
      mode: { Static: "0/16b5ba8" },
    }),
  );
  assert.deepEqual(neonConfLines(spec), [
    "# Neon storage settings",
    "",
    "neon.stripe_size=32768",
    "neon.pageserver_connstring='postgres://no_user@ps:6400'",
    "neon.tenant_id='aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'",
    "neon.timeline_id='bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'",
    "neon.compute_mode=static",
    "hot_standby=on",
    "recovery_target_lsn='0/16B5BA8'",
  ]);
});

test("storage falls back to neon.* entries in cluster.settings", () => {
  const setting = (name: string, value: string) => ({ name, value, vartype: "string" });
  const spec = parseSpec(
    specJson({
      cluster: {
        roles: [],
        databases: [],
        settings: [
          setting("neon.tenant_id", "cccccccccccccccccccccccccccccccc"),
          setting("neon.timeline_id", "dddddddddddddddddddddddddddddddd"),
          setting("neon.pageserver_connstring", "postgres://no_user@a:1,postgres://no_user@b:2"),
          setting("neon.safekeepers", "g#4:s1:1,s2:2"),
        ],
      },
    }),
  );
  const s = resolveNeonStorage(spec);
  assert.equal(s.tenantId, "cccccccccccccccccccccccccccccccc");
  assert.equal(s.timelineId, "dddddddddddddddddddddddddddddddd");
  assert.deepEqual(s.shardUrls, ["postgres://no_user@a:1", "postgres://no_user@b:2"]);
  assert.deepEqual(s.safekeepers, ["s1:1", "s2:2"]);
  assert.equal(s.safekeepersGeneration, 4);
  // Nothing from settings is repeated in the storage block: the settings block writes it.
  assert.deepEqual(neonConfLines(spec), ["# Neon storage settings", "", "neon.compute_mode=primary"]);
});

test("basebackup command: LSN only when known, --replica for every non-primary mode", () => {
  const base = { tenantId: "t", timelineId: "tl" };
  assert.equal(
    basebackupCommand({ ...base, lsn: "0/1", computeMode: "primary" }),
    "basebackup t tl 0/1 --gzip",
  );
  assert.equal(
    basebackupCommand({ ...base, lsn: null, computeMode: "replica" }),
    "basebackup t tl --gzip --replica",
  );
  assert.equal(
    basebackupCommand({ ...base, lsn: "0/2", computeMode: "static" }),
    "basebackup t tl 0/2 --gzip --replica",
  );
});

test("safekeepers are synced only when every quorum answer agrees and commit == flush", () => {
  const ok = (flush: bigint, commit: bigint) => ({
    found: true as const,
    flushLsn: flush,
    commitLsn: commit,
  });
  assert.equal(syncedLsn([ok(10n, 10n), ok(10n, 10n)]), 10n);
  assert.equal(syncedLsn([ok(10n, 10n), ok(11n, 11n)]), null, "disagreeing safekeepers");
  assert.equal(syncedLsn([ok(11n, 10n), ok(11n, 10n)]), null, "commit behind flush");
  assert.equal(syncedLsn([ok(10n, 10n), { found: false }]), null, "a safekeeper without the timeline");
  assert.equal(syncedLsn([]), null);
});
