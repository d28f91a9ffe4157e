// The archive source with an S3 repository, against a local S3-compatible server (s3rver from
// npm, HTTPS with a self-signed certificate, path-style URIs) and real pgBackRest: bootstrap,
// write, fast terminate, restart with every row; the stanza lease lives in the bucket too, so
// a second primary is refused; credentials come from the agent's environment, never the spec.
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { after, before, test } from "node:test";
import { postgresPidsOf, type RunningAgent, startAgent } from "./support/agent.js";
import { agentPgbackrestConf, archiveSpec } from "./support/archive.js";
import { freePort } from "./support/ports.js";
import { S3_KEY, S3_SECRET, startTestS3, type TestS3 } from "./support/s3-server.js";

let s3: TestS3;
const agents: RunningAgent[] = [];
before(async () => {
  s3 = await startTestS3();
});
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await s3?.stop();
});

function s3Spec(stanza: string): Record<string, unknown> {
  return archiveSpec(stanza, {
    type: "s3",
    bucket: s3.bucket,
    endpoint: "127.0.0.1",
    port: s3.port,
    region: "us-east-1",
    path: "/pgbackrest",
    uri_style: "path",
    verify_tls: false,
    credentials: { from: "env", key_var: "TEST_S3_KEY", secret_var: "TEST_S3_SECRET" },
  });
}

async function start(name: string, id: string): Promise<RunningAgent> {
  const agent = await startAgent({
    spec: s3Spec("s3main"),
    args: ["--compute-id", id],
    env: { TEST_S3_KEY: S3_KEY, TEST_S3_SECRET: S3_SECRET },
    name,
  });
  agents.push(agent);
  return agent;
}

test("S3 repository: bootstrap, write, fast terminate, restart; a second primary is refused", async () => {
  const first = await start("archive-s3-0", "c-s3");
  await first.waitForStatus("running", 60_000);
  // The secret is in the 0600 config file pgbackrest reads, and nowhere in the spec or log.
  const conf = agentPgbackrestConf(first);
  assert.equal(statSync(conf).mode & 0o777, 0o600);
  assert.match(readFileSync(conf, "utf8"), /^repo1-s3-key-secret=S3RVER$/m);
  assert.doesNotMatch(first.logs(), /TEST_S3_SECRET=|repo1-s3-key-secret=S3RVER/);

  const intruder = await start("archive-s3-intruder", "c-other");
  const refused = await intruder.waitForStatus(["failed", "running"], 60_000);
  assert.equal(refused.status, "failed");
  assert.match(String(refused.error), /held by compute c-s3/);
  assert.equal(postgresPidsOf(intruder.pgdata).length, 0);

  await first.query("CREATE TABLE s (id int)");
  await first.query("INSERT INTO s SELECT generate_series(1, 500)");
  const res = await first.post("/terminate?mode=fast");
  const { lsn } = (await res.json()) as { lsn: string | null };
  assert.match(String(lsn), /^[0-9A-F]+\/[0-9A-F]+$/);
  await first.exited;

  const second = await start("archive-s3-1", "c-s3");
  await second.waitForStatus("running", 60_000);
  const [{ n }] = await second.query<{ n: string }>("SELECT count(*) AS n FROM s");
  assert.equal(Number(n), 500);
  const [{ f }] = await second.query<{ f: string }>("SELECT pg_walfile_name(pg_current_wal_lsn()) AS f");
  assert.equal(f.slice(0, 8), "00000002", "restored and promoted on a new timeline");
});

test("an unreachable S3 endpoint: the start fails with the reason, nothing started", async () => {
  const spec = s3Spec("nowhere");
  const closed = await freePort();
  (spec.source as { repo: { port: number } }).repo.port = closed;
  const agent = await startAgent({
    spec,
    args: ["--compute-id", "c-nowhere"],
    env: { TEST_S3_KEY: S3_KEY, TEST_S3_SECRET: S3_SECRET },
    name: "archive-s3-unreachable",
  });
  agents.push(agent);
  const st = await agent.waitForStatus(["failed", "running"], 60_000);
  assert.equal(st.status, "failed");
  assert.match(String(st.error), new RegExp(`127\\.0\\.0\\.1.*ECONNREFUSED|${closed}`));
  assert.equal(postgresPidsOf(agent.pgdata).length, 0);
});
