// End to end: a base backup from a real primary that takes several seconds (the primary sits
// behind a proxy that slows it to a slow network's rate) reports how far it is while the compute
// starts - in GET /status, in the WatchStatus stream of an independent gRPC client, and in the
// log at least once a second - and stops reporting once the compute runs.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { grpcJsClient, grpcJsStream } from "./support/grpc-harness.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";
import { startThrottledProxy, type ThrottledProxy } from "./support/throttled-proxy.js";
import { parseUniqueJson } from "./support/unique-json.js";

// A fresh cluster's base backup is ~23 MB (pg_basebackup's estimate, WAL streamed beside it):
// at 4 MiB/s the copy takes about 6 s, whatever the machine's speed.
const RATE = 4 * 1024 * 1024;

interface RestProgress {
  phase: string;
  bytes_done: number;
  bytes_total: number | null;
}
interface WatchState {
  state: { status: string; progress: { phase: string; bytesDone: string; bytesTotal?: string } | null };
}

let primary: TestPostgres;
let proxy: ThrottledProxy;
let agent: RunningAgent;

before(async () => {
  primary = await startTestPostgres({
    settings: { wal_level: "replica", max_wal_senders: "10" },
    hba: ["host replication all 127.0.0.1/32 trust"],
  });
  proxy = await startThrottledProxy({ host: "127.0.0.1", port: primary.port }, RATE);
  agent = await startAgent({ name: "progress-basebackup" });
});
after(async () => {
  await agent?.stop();
  await proxy?.close();
  await primary?.stop();
});

test("a slow base backup shows its progress in /status, WatchStatus and the log while the compute starts", async () => {
  // The gRPC API is up on an empty agent; the start comes through POST /configure.
  const client = grpcJsClient(`unix://${agent.grpcSocket}`);
  const watched: WatchState[] = [];
  let watching!: ReturnType<typeof grpcJsStream<WatchState>>;
  for (let i = 0; ; i++) {
    const call = client.watchStatus({});
    const first = await new Promise<boolean>((resolve) => {
      call.once("data", (m: WatchState) => {
        watched.push(m);
        resolve(true);
      });
      call.once("error", () => resolve(false));
    });
    if (first) {
      watching = grpcJsStream<WatchState>(call, (m) => watched.push(m));
      break;
    }
    assert.ok(i < 100, "the gRPC socket answers");
    await new Promise((r) => setTimeout(r, 50));
  }

  const connstring = `postgresql://postgres@127.0.0.1:${proxy.port}/postgres`;
  const configured = agent.post("/configure", {
    spec: minimalSpec({ mode: "Primary", source: { kind: "primary", connstring } }),
  });
  // Sample /status while the compute starts (the samples are the observation, not a wait).
  const rest: RestProgress[] = [];
  let done = false;
  void configured.finally(() => {
    done = true;
  });
  while (!done) {
    const s = (await (await agent.get("/status")).json()) as { status: string; progress?: RestProgress };
    if (s.progress) rest.push(s.progress);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal((await configured).status, 200);
  const after = (await (await agent.get("/status")).json()) as Record<string, unknown>;
  assert.equal(after.status, "running");
  assert.equal("progress" in after, false, "no progress once the compute runs");
  assert.ok(proxy.bytesSent() > 10_000_000, `the copy went through the proxy (${proxy.bytesSent()} bytes)`);

  // REST: several samples of one base backup, moving forward, against a known total.
  assert.ok(rest.length >= 5, `${rest.length} samples with progress`);
  assert.ok(rest.every((p) => p.phase === "basebackup"));
  for (let i = 1; i < rest.length; i++)
    assert.ok(rest[i].bytes_done >= rest[i - 1].bytes_done, "bytes_done never goes back");
  assert.ok(new Set(rest.map((p) => p.bytes_done)).size >= 3, "bytes_done moved while sampled");
  const total = rest.at(-1)?.bytes_total ?? 0;
  assert.ok(total > 10_000_000, `bytes_total ${total}`);
  assert.ok(rest.every((p) => p.bytes_total === null || p.bytes_done <= p.bytes_total));

  // WatchStatus (grpc-js, from the .proto): progress states in order, then running without it.
  await agent.post("/terminate?mode=fast");
  const end = await watching;
  client.close();
  assert.equal(end.error, null);
  const withProgress = watched.filter((m) => m.state.progress);
  assert.ok(withProgress.length >= 3, `${withProgress.length} WatchStatus messages with progress`);
  const bytes = withProgress.map((m) => Number(m.state.progress?.bytesDone));
  for (let i = 1; i < bytes.length; i++) assert.ok(bytes[i] >= bytes[i - 1]);
  assert.ok(new Set(bytes).size >= 3, "WatchStatus saw the bytes move");
  assert.ok(withProgress.every((m) => m.state.progress?.phase === "basebackup"));
  const running = watched.find((m) => m.state.status === "COMPUTE_STATUS_RUNNING");
  assert.ok(running, "running was sent");
  assert.equal(running.state.progress, null, "running carries no progress");

  // The log: started, a line at least every second, done; each line JSON with unique keys.
  const log = agent
    .logs()
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => parseUniqueJson(l) as { msg: string; time: number; progress?: { bytes_done: number } });
  const started = log.find((e) => e.msg === "basebackup started");
  const finished = log.find((e) => e.msg === "basebackup done");
  assert.ok(started && finished, "start and done lines");
  const took = finished.time - started.time;
  assert.ok(took >= 3000, `the base backup took several seconds (${took} ms)`);
  const lines = log.filter((e) => e.msg === "basebackup progress");
  assert.ok(
    lines.length >= Math.floor(took / 1000) - 1,
    `${lines.length} progress lines in ${took} ms (one a second)`,
  );
  const logged = lines.map((e) => e.progress?.bytes_done ?? -1);
  for (let i = 1; i < logged.length; i++) assert.ok(logged[i] >= logged[i - 1]);
  assert.ok((finished.progress?.bytes_done ?? 0) >= total * 0.9, "done reports the whole copy");
});
