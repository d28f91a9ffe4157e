// The archive source as data, without Postgres: spec validation (every refusal names its JSON
// path), the mapping of the spec's repository onto pgBackRest options (posix and S3, the S3
// mapping being what a local S3 server test exercises for real), the postgresql.conf lines and
// shell commands (nothing from a spec string escapes its quotes), WAL arithmetic, the backup
// policy, the stanza lease over an in-memory store, the archiver health, and SigV4 signing
// against AWS's published example.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import pino from "pino";
import { formatLsn, parseLsn } from "../src/postgres/lsn.js";
import { parseSpec } from "../src/spec/parse.js";
import { SpecError } from "../src/spec/spec-error.js";
import type { ArchiveSourceJson } from "../src/spec/types.js";
import { dueBackup } from "../src/startup/sources/archive-backups.js";
import {
  archiveCommand,
  archiveConfLines,
  pgbackrestPaths,
  renderPgbackrestConf,
  restoreCommand,
} from "../src/startup/sources/archive-config.js";
import { resolveS3Secrets } from "../src/startup/sources/archive-credentials.js";
import { LeaseHeldError, type LeaseStore, StanzaLease } from "../src/startup/sources/archive-lease.js";
import { type ArchiverSample, nextFailingSince } from "../src/startup/sources/archive-monitor.js";
import {
  parseStanzaInfo,
  pgbackrestErrorText,
  type StanzaBackup,
} from "../src/startup/sources/archive-pgbackrest.js";
import { signS3Request } from "../src/startup/sources/archive-s3-client.js";
import { chooseBackup } from "../src/startup/sources/archive-source.js";
import { parseSegmentName, recordEnd, segmentName } from "../src/startup/sources/archive-wal.js";

const log = pino({ level: "silent" });

function spec(source: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return parseSpec({
    format_version: 1,
    suspend_timeout_seconds: -1,
    cluster: { roles: [], databases: [] },
    source: { kind: "archive", stanza: "main", repo: { type: "posix", path: "/repo" }, ...source },
    ...extra,
  });
}

function refusal(fn: () => unknown): SpecError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SpecError) return err;
    throw err;
  }
  throw new Error("expected a SpecError");
}

function archiveOf(s: ReturnType<typeof spec>): ArchiveSourceJson {
  assert.equal(s.source.kind, "archive");
  return (s.source as { archive: ArchiveSourceJson }).archive;
}

describe("spec", () => {
  test("defaults: 60 s archive_timeout, 60 s lease, incremental backups daily or per GiB of WAL, 2 fulls kept", () => {
    const a = archiveOf(spec({}));
    assert.equal(a.archive_timeout_seconds, 60);
    assert.equal(a.lease_ttl_seconds, 60);
    assert.deepEqual(a.backup, {
      type: "incr",
      interval_seconds: 86_400,
      wal_bytes: 1024 ** 3,
      full_interval_seconds: 7 * 86_400,
    });
    assert.equal(a.retention.full, 2);
    assert.equal(a.bootstrap, true);
  });

  test("refusals name the field", () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ stanza: "bad name" }, "$.source.stanza", /stanza names/],
      [{ stanza: "x]\n[global" }, "$.source.stanza", /stanza names/],
      [{ repo: { type: "posix", path: "relative/dir" } }, "$.source.repo.path", /absolute/],
      [{ repo: { type: "posix", path: "/repo\nrepo1-type=s3" } }, "$.source.repo.path", /control characters/],
      [{ repo: { type: "posix", path: "/repo/../etc" } }, "$.source.repo.path", /\.\./],
      [{ repo: { type: "nfs", path: "/x" } }, "$.source.repo.type", /posix.*s3/],
      [
        {
          repo: {
            type: "s3",
            bucket: "b1b",
            endpoint: "e",
            region: "r",
            credentials: { from: "env", key: "AKIA" },
          },
        },
        "$.source.repo.credentials.key",
        /key/,
      ],
      [
        { repo: { type: "s3", bucket: "Bad_Bucket", endpoint: "e", region: "r" } },
        "$.source.repo.bucket",
        /bucket names/,
      ],
      [
        { repo: { type: "s3", bucket: "bkt", endpoint: "https://x", region: "r" } },
        "$.source.repo.endpoint",
        /host name/,
      ],
      [{ archive_timeout_seconds: 0 }, "$.source.archive_timeout_seconds", /./],
      [{ target: { time: "yesterday" } }, "$.source.target.time", /RFC 3339/],
      [{ target: { lsn: "0/1" } }, "$.source.target", /needs mode \{"Static"/],
      [{ primary_conninfo: "host=p" }, "$.source.primary_conninfo", /Replica only/],
    ];
    for (const [source, path, msg] of cases) {
      const err = refusal(() => spec(source));
      assert.equal(err.path, path, JSON.stringify(source));
      assert.match(err.message, msg);
    }
  });

  test("Static: the mode's LSN is the target; a target.time needs Static 0/0; a differing target.lsn is refused", () => {
    const s = spec({}, { mode: { Static: "0/16b5ba8" } });
    assert.deepEqual(s.source.kind === "archive" && s.source.target, { kind: "lsn", lsn: "0/16B5BA8" });
    const t = spec({ target: { time: "2026-01-31T12:00:00+01:00" } }, { mode: { Static: "0/0" } });
    assert.deepEqual(t.source.kind === "archive" && t.source.target, {
      kind: "time",
      time: "2026-01-31T11:00:00.000Z",
    });
    assert.equal(
      refusal(() => spec({ target: { time: "2026-01-31T12:00:00Z" } }, { mode: { Static: "0/1" } })).path,
      "$.mode",
    );
    assert.equal(
      refusal(() => spec({ target: { lsn: "0/2" } }, { mode: { Static: "0/1" } })).path,
      "$.source.target.lsn",
    );
    assert.equal(refusal(() => spec({}, { mode: { Static: "0/0" } })).path, "$.mode");
    // Replica with a primary to stream from as well.
    const r = spec({ primary_conninfo: "host=p" }, { mode: "Replica" });
    assert.equal(archiveOf(r).primary_conninfo, "host=p");
  });
});

describe("pgBackRest config", () => {
  const paths = pgbackrestPaths("/run/cc");
  const pg = {
    pgdata: "/data/pg",
    port: 55432,
    socketDir: "/run/cc/pgbackrest/socket",
    user: "postgres",
    database: "postgres",
  };

  test("posix: repo1-path, retention, our paths, async archiving, the stanza's pg1-*", () => {
    const text = renderPgbackrestConf(archiveOf(spec({})), paths, pg, null);
    assert.equal(
      text,
      [
        "# Written by compute_ctl for this compute; rewritten on every start.",
        "[global]",
        "repo1-type=posix",
        "repo1-path=/repo",
        "repo1-retention-full=2",
        "repo1-retention-full-type=count",
        "lock-path=/run/cc/pgbackrest/lock",
        "spool-path=/run/cc/pgbackrest/spool",
        "log-path=/run/cc/pgbackrest/log",
        "log-level-console=warn",
        "log-level-stderr=off",
        "log-level-file=off",
        "archive-async=y",
        "process-max=2",
        "compress-type=lz4",
        "start-fast=y",
        "archive-timeout=120",
        "",
        "[main]",
        "pg1-path=/data/pg",
        "pg1-port=55432",
        "pg1-socket-path=/run/cc/pgbackrest/socket",
        "pg1-user=postgres",
        "pg1-database=postgres",
        "",
      ].join("\n"),
    );
  });

  test("S3: the exact repo1-s3-* options, secrets from the environment, retention", async () => {
    const a = archiveOf(
      spec({
        repo: {
          type: "s3",
          bucket: "my-bucket",
          endpoint: "minio.local",
          region: "eu-west-3",
          path: "/computes/a",
          port: 9443,
          uri_style: "path",
          verify_tls: false,
          ca_file: "/etc/ssl/ca.pem",
          credentials: { from: "env", key_var: "K", secret_var: "S", token_var: "T" },
        },
        retention: { full: 3, full_type: "time", diff: 4, archive: 2, archive_type: "diff" },
      }),
    );
    const secrets = await resolveS3Secrets(a.repo, { K: "AKIA123", S: "s3cr3t/+=", T: "tok" });
    const text = renderPgbackrestConf(a, paths, pg, secrets);
    const global = text.split("\n[main]")[0].split("\n");
    const repoLines = global.filter((l) => l.startsWith("repo1-"));
    assert.deepEqual(repoLines, [
      "repo1-type=s3",
      "repo1-path=/computes/a",
      "repo1-s3-bucket=my-bucket",
      "repo1-s3-endpoint=minio.local",
      "repo1-s3-region=eu-west-3",
      "repo1-s3-uri-style=path",
      "repo1-storage-port=9443",
      "repo1-storage-verify-tls=n",
      "repo1-storage-ca-file=/etc/ssl/ca.pem",
      "repo1-s3-key-type=shared",
      "repo1-retention-full=3",
      "repo1-retention-full-type=time",
      "repo1-retention-diff=4",
      "repo1-retention-archive=2",
      "repo1-retention-archive-type=diff",
      "repo1-s3-key=AKIA123",
      "repo1-s3-key-secret=s3cr3t/+=",
      "repo1-s3-token=tok",
    ]);
    // Defaults: host-style URIs, TLS verified, port from the endpoint's scheme.
    const d = archiveOf(
      spec({ repo: { type: "s3", bucket: "bkt", endpoint: "s3.amazonaws.com", region: "us-east-1" } }),
    );
    const dl = renderPgbackrestConf(d, paths, pg, { key: "k", secret: "s", token: null });
    assert.match(dl, /^repo1-s3-uri-style=host$/m);
    assert.match(dl, /^repo1-path=\/$/m);
    assert.doesNotMatch(dl, /verify-tls|storage-port|s3-token/);
  });

  test("credentials by reference: missing or multi-line secrets are refused", async () => {
    const a = archiveOf(spec({ repo: { type: "s3", bucket: "bkt", endpoint: "e.x", region: "r" } }));
    await assert.rejects(resolveS3Secrets(a.repo, {}), /AWS_ACCESS_KEY_ID/);
    await assert.rejects(
      resolveS3Secrets(a.repo, { AWS_ACCESS_KEY_ID: "k", AWS_SECRET_ACCESS_KEY: "s\nrepo1-path=/x" }),
      /control characters/,
    );
    const f = archiveOf(
      spec({
        repo: {
          type: "s3",
          bucket: "bkt",
          endpoint: "e.x",
          region: "r",
          credentials: { from: "file", path: "/nonexistent/creds.json" },
        },
      }),
    );
    await assert.rejects(
      resolveS3Secrets(f.repo, {}),
      /cannot read the S3 credentials file \/nonexistent\/creds.json/,
    );
  });

  test("commands quote every word; conf lines per mode", () => {
    const exe = "/usr/bin/pgbackrest";
    const conf = "/run/it's here/pgbackrest.conf";
    assert.equal(
      archiveCommand(exe, conf, "main"),
      `'/usr/bin/pgbackrest' '--config=/run/it'\\''s here/pgbackrest.conf' --stanza=main archive-push "%p"`,
    );
    assert.equal(
      restoreCommand(exe, "/c", "main"),
      `'/usr/bin/pgbackrest' '--config=/c' --stanza=main archive-get %f "%p"`,
    );
    const primary = spec({ archive_timeout_seconds: 5 });
    const lines = archiveConfLines({
      archive: archiveOf(primary),
      mode: primary.mode,
      target: null,
      exe,
      configFile: conf,
      socketDir: "/s",
    });
    assert.deepEqual(lines, [
      "unix_socket_directories = '/s'",
      `restore_command = '''/usr/bin/pgbackrest'' ''--config=/run/it''\\\\''''s here/pgbackrest.conf'' --stanza=main archive-get %f "%p"'`,
      "recovery_target_timeline = 'latest'",
      "hot_standby = on",
      "archive_mode = on",
      `archive_command = '''/usr/bin/pgbackrest'' ''--config=/run/it''\\\\''''s here/pgbackrest.conf'' --stanza=main archive-push "%p"'`,
      "archive_timeout = 5",
    ]);
    const stat = spec({}, { mode: { Static: "0/3000028" } });
    const sl = archiveConfLines({
      archive: archiveOf(stat),
      mode: stat.mode,
      target: stat.source.kind === "archive" ? stat.source.target : null,
      exe,
      configFile: "/c",
      socketDir: null,
    });
    assert.ok(sl.includes("recovery_target_lsn = '0/3000028'"));
    assert.ok(sl.includes("recovery_target_action = 'pause'"));
    assert.ok(!sl.some((l) => l.startsWith("archive_mode")), "a static compute does not archive");
    const rep = spec({ primary_conninfo: "host=p password=it's" }, { mode: "Replica" });
    const rl = archiveConfLines({
      archive: archiveOf(rep),
      mode: rep.mode,
      target: null,
      exe,
      configFile: "/c",
      socketDir: null,
    });
    assert.ok(rl.includes("primary_conninfo = 'host=p password=it''s'"));
  });
});

describe("WAL arithmetic", () => {
  const SEG = 16 * 1024 * 1024;
  test("end of a record: on one page, across a page, across a segment", () => {
    // A shutdown checkpoint record (114 bytes) right after a segment's long page header.
    assert.equal(formatLsn(recordEnd(parseLsn("0/4000028"), 114, SEG)), "0/40000A0");
    // 24 bytes left on the first page: the rest follows the next page's short header.
    assert.equal(formatLsn(recordEnd(parseLsn("0/3001FE8"), 114, SEG)), "0/3002078");
    // 16 bytes left in the segment: the rest follows the next segment's long header.
    assert.equal(formatLsn(recordEnd(parseLsn("0/3FFFFF0"), 114, SEG)), "0/4000090");
  });

  test("segment names", () => {
    assert.equal(segmentName(3, 0x105n, SEG), "000000030000000100000005");
    assert.deepEqual(parseSegmentName("000000030000000100000005", SEG), { tli: 3, segno: 0x105n });
    assert.equal(parseSegmentName("00000003.history", SEG), null);
  });
});

describe("backups", () => {
  const b = (type: "full" | "incr" | "diff", stop: number, stopLsn: string, error = false): StanzaBackup => ({
    label: `L${stop}`,
    type,
    startTime: stop - 5,
    stopTime: stop,
    startLsn: "0/1",
    stopLsn,
    size: 1,
    error,
  });
  const policy = archiveOf(
    spec({ backup: { interval_seconds: 100, wal_bytes: 1000, full_interval_seconds: 1000 } }),
  ).backup;

  test("policy: full when none or old, then incremental by age or WAL volume", () => {
    assert.equal(dueBackup(policy, [], 0, null)?.type, "full");
    assert.equal(
      dueBackup(policy, [b("full", 0, "0/1", true)], 10, null)?.type,
      "full",
      "a failed backup does not count",
    );
    assert.equal(dueBackup(policy, [b("full", 0, "0/1")], 50, parseLsn("0/100")), null);
    assert.equal(dueBackup(policy, [b("full", 0, "0/1")], 100, null)?.type, "incr");
    assert.equal(dueBackup(policy, [b("full", 0, "0/1")], 50, parseLsn("0/3E9"))?.type, "incr");
    assert.equal(dueBackup(policy, [b("full", 0, "0/1"), b("incr", 990, "0/1")], 1000, null)?.type, "full");
  });

  test("restore picks the newest backup consistent before a target", () => {
    const list = [
      b("full", 100, "0/3000000"),
      b("incr", 200, "0/5000000"),
      b("incr", 300, "0/7000000", true),
    ];
    assert.equal(chooseBackup(list, null, "s").label, "L200");
    assert.equal(chooseBackup(list, { kind: "lsn", lsn: "0/4000000" }, "s").label, "L100");
    assert.equal(
      chooseBackup(list, { kind: "time", time: new Date(250_000).toISOString() }, "s").label,
      "L200",
    );
    assert.throws(
      () => chooseBackup(list, { kind: "lsn", lsn: "0/100" }, "s"),
      /no backup of stanza s is consistent before LSN 0\/100 \(the oldest ends at LSN 0\/3000000/,
    );
  });

  test("pgbackrest info and errors", () => {
    const info = parseStanzaInfo(
      JSON.stringify([
        {
          name: "main",
          status: { code: 0, message: "ok", lock: { backup: { held: true } } },
          repo: [{ status: { code: 0, message: "ok" } }],
          db: [{ id: 1 }],
          archive: [
            { database: { id: 1 }, min: "000000010000000000000001", max: "000000020000000000000007" },
          ],
          backup: [
            {
              label: "F",
              type: "full",
              timestamp: { start: 1, stop: 2 },
              lsn: { start: "0/2000028", stop: "0/2000100" },
              info: { size: 42 },
              error: false,
            },
          ],
        },
      ]),
      "main",
    );
    assert.equal(info.archiveMax, "000000020000000000000007");
    assert.equal(info.backups[0].size, 42);
    assert.equal(info.backupRunning, true);
    assert.equal(
      pgbackrestErrorText(
        "INFO: x\nERROR: [082]: WAL segment 000000010000000000000003 was not archived before the 60000ms timeout\n",
      ),
      "WAL segment 000000010000000000000003 was not archived before the 60000ms timeout",
    );
  });
});

function memoryStore(): LeaseStore & { files: Map<string, string> } {
  const files = new Map<string, string>();
  return {
    files,
    where: "memory:",
    list: async () => [...files.keys()],
    read: async (n) => files.get(n) ?? null,
    createExclusive: async (n, body) => {
      if (files.has(n)) return false;
      files.set(n, body);
      return true;
    },
    overwrite: async (n, body) => {
      files.set(n, body);
    },
    remove: async (n) => {
      files.delete(n);
    },
  };
}

describe("stanza lease", () => {
  const opts = (store: LeaseStore, holder: string, ttlS = 60) => ({
    store,
    stanza: "main",
    holder,
    ttlS,
    log,
  });

  test("a held lease refuses another compute, naming the holder; a restart of the same compute takes over", async () => {
    const store = memoryStore();
    const a = await StanzaLease.acquire(opts(store, "compute-a"));
    await assert.rejects(StanzaLease.acquire(opts(store, "compute-b")), (err: Error) => {
      assert.ok(err instanceof LeaseHeldError);
      assert.match(
        err.message,
        /held by compute compute-a \(host .*, pid \d+; renewed 0 s ago, expires in 60 s\)/,
      );
      return true;
    });
    const again = await StanzaLease.acquire(opts(store, "compute-a"));
    assert.equal(again.record.generation, 2);
    // The first run is fenced: its lease is no longer the current one.
    await assert.rejects(a.verify(), /lease lost, taken over by compute compute-a \(generation 2\)/);
  });

  test("an expired lease may be taken; a released one at once, handing over the final LSN", async () => {
    const store = memoryStore();
    const a = await StanzaLease.acquire(opts(store, "compute-a", 5));
    const rec = { ...a.record, renewed_at: new Date(Date.now() - 6000).toISOString() };
    store.files.set("lease-0000000001.json", JSON.stringify(rec));
    const b = await StanzaLease.acquire(opts(store, "compute-b", 5));
    await b.release({ lsn: "0/50000A0", checkpointLsn: "0/5000028", timeline: 3 });
    const c = await StanzaLease.acquire(opts(store, "compute-c", 5));
    assert.equal(c.previous?.final_lsn, "0/50000A0");
    // c never wrote (its start failed): the final LSN stays known for the next start.
    await c.release(null, false);
    const d = await StanzaLease.acquire(opts(store, "compute-d", 5));
    assert.equal(d.previous?.checkpoint_lsn, "0/5000028");
    // d wrote and then stopped without a clean shutdown: the end is unknown again.
    await d.release(null, true);
    const e = await StanzaLease.acquire(opts(store, "compute-e", 5));
    assert.equal(e.previous?.final_lsn, null);
    assert.ok(store.files.size <= 3, "old generations are cleaned up");
  });

  test("two computes racing for the same generation: exactly one wins", async () => {
    const store = memoryStore();
    const results = await Promise.allSettled([
      StanzaLease.acquire(opts(store, "x")),
      StanzaLease.acquire(opts(store, "y")),
    ]);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    assert.match(
      String((results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason),
      /held by compute/,
    );
  });

  test("a holder that finds itself taken over fences itself once", async () => {
    const store = memoryStore();
    const a = await StanzaLease.acquire(opts(store, "compute-a", 3));
    const lost: string[] = [];
    a.startRenewing((reason) => lost.push(reason));
    // Someone decided compute-a was dead and took the stanza.
    const rec = JSON.parse(store.files.get("lease-0000000001.json") as string);
    store.files.set(
      "lease-0000000002.json",
      JSON.stringify({ ...rec, generation: 2, holder: "compute-b", token: "other" }),
    );
    const end = Date.now() + 10_000;
    while (lost.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    a.stopRenewing();
    assert.equal(lost.length, 1);
    assert.match(lost[0], /taken over by compute compute-b \(generation 2\)/);
    assert.equal(
      JSON.parse(store.files.get("lease-0000000002.json") as string).holder,
      "compute-b",
      "not overwritten",
    );
  });

  test("a damaged lease object stops the start with the way out", async () => {
    const store = memoryStore();
    store.files.set("lease-0000000004.json", "{not json");
    await assert.rejects(
      StanzaLease.acquire(opts(store, "x")),
      /lease-0000000004.json .* is damaged; remove it once no compute runs/,
    );
  });
});

test("archiver health: failing from the first failure after a success, cleared by the next success", () => {
  const s = (ok: number, fail: number, okAt: number | null, failAt: number | null): ArchiverSample => ({
    archivedCount: ok,
    failedCount: fail,
    lastArchivedWal: null,
    lastArchivedTime: okAt === null ? null : new Date(okAt),
    lastFailedWal: null,
    lastFailedTime: failAt === null ? null : new Date(failAt),
  });
  let since = nextFailingSince(null, s(1, 0, 1000, null), null);
  assert.equal(since, null);
  since = nextFailingSince(s(1, 0, 1000, null), s(1, 1, 1000, 2000), since);
  assert.equal(since?.getTime(), 2000);
  since = nextFailingSince(s(1, 1, 1000, 2000), s(1, 4, 1000, 5000), since);
  assert.equal(since?.getTime(), 2000, "still failing since the first failure");
  since = nextFailingSince(s(1, 4, 1000, 5000), s(2, 4, 6000, 5000), since);
  assert.equal(since, null);
});

test("SigV4: AWS's published GET Object example", () => {
  // docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html, "GET Object".
  const headers = signS3Request({
    method: "GET",
    host: "examplebucket.s3.amazonaws.com",
    path: "/test.txt",
    query: {},
    headers: { Range: "bytes=0-9" },
    body: "",
    region: "us-east-1",
    secrets: { key: "AKIAIOSFODNN7EXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", token: null },
    now: new Date("2013-05-24T00:00:00Z"),
  });
  assert.equal(
    headers.authorization,
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
  );
});
