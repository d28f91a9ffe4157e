// The exporter thread end to end, supervised as the agent will run it: a 150-character PGDATA,
// the socket read with curl and through the agent-side forwarder, strict parsing of the six
// families and sixty windows, socket privacy against another OS user, recovery from a crashed
// exporter thread, and the 403/429 access answers. The exporter runs compiled here (as deployed); the other exporter tests
// run it from source through tsx, the supervisor's default under the test runner.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { createAutoscalingAccess } from "../src/exporter-host/autoscaling-access.js";
import { type ExporterHandle, startExporter } from "../src/exporter-host/exporter-supervisor.js";
import { lookupOsUser } from "../src/postgres/os-user.js";
import { bundledExporterEntry } from "./support/exporter-build.js";
import {
  captureLog,
  curlSocket,
  httpGet,
  startForwarder,
  type TestForwarder,
  waitFor,
} from "./support/exporter-harness.js";
import { pgOsUser, startTestPostgres, type TestPostgres, tempDir } from "./support/postgres.js";
import { strictParse } from "./support/prometheus-strict.js";

const SIX = [
  "lfc_cache_size_limit",
  "lfc_hits",
  "lfc_misses",
  "lfc_used",
  "lfc_writes",
  "lfc_approximate_working_set_size_windows",
];

let pg: TestPostgres;
let root: string;
let pgdata: string;
let exporter: ExporterHandle;
let forwarder: TestForwarder;
const extra: TestForwarder[] = [];
const exporterLog = captureLog("warn");

/** A directory whose absolute path is exactly `length` characters, owned by the Postgres OS user, 0700. */
function longDir(base: string, length: number): string {
  let rest = length - base.length; // characters still to add, slashes included
  const parts: string[] = [];
  while (rest > 61) {
    parts.push("d".repeat(50));
    rest -= 51;
  }
  parts.push("d".repeat(rest - 1));
  const dir = path.join(base, ...parts);
  mkdirSync(dir, { recursive: true });
  for (let d = dir; d !== base; d = path.dirname(d)) {
    if (pgOsUser) chownSync(d, pgOsUser.uid, pgOsUser.gid);
  }
  chmodSync(dir, 0o700);
  return dir;
}

function assertAutoscalingBody(body: string): void {
  const fams = strictParse(body);
  assert.deepEqual([...fams.keys()], SIX, "exactly the six autoscaling families, in Neon's order");
  for (const f of fams.values()) assert.equal(f.type, "gauge", `${f.name} is a gauge`);
  const windows = fams.get("lfc_approximate_working_set_size_windows")?.samples ?? [];
  assert.deepEqual(
    windows.map((s) => s.labels.duration_seconds),
    Array.from({ length: 60 }, (_, i) => String((i + 1) * 60)),
  );
  for (const s of windows) assert.deepEqual(Object.keys(s.labels), ["duration_seconds"]);
  for (const name of SIX.slice(0, 5)) assert.equal(fams.get(name)?.samples.length, 1);
  assert.equal(fams.get("lfc_cache_size_limit")?.samples[0].value, 16 * 1024 * 1024, "shared_buffers = 16MB");
}

before(async () => {
  pg = await startTestPostgres({ settings: { shared_buffers: "16MB" } });
  root = tempDir("cct-exp-");
  pgdata = longDir(root, 150);
  exporter = startExporter({
    pgdata,
    connstr: pg.connstr(),
    log: exporterLog.log,
    socketOwner: pgOsUser,
    stateFile: null,
    timings: { wssSampleMs: 500 },
    testHooks: true,
    // Compiled, as deployed: restart timing under tsx would measure the TypeScript loader.
    entry: await bundledExporterEntry(),
  });
  forwarder = await startForwarder({ exporter, timeoutMs: 2000 });
  await waitFor(
    "the exporter to answer",
    async () => (await curlSocket(exporter.socketPath, "/autoscaling_metrics")).status === 200,
    20_000,
    100,
  );
});

after(async () => {
  for (const f of extra) await f.close();
  await forwarder?.close();
  await exporter?.stop();
  await pg?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

test("150-character PGDATA: curl on the socket and the forwarder both serve the six families and 60 windows", async () => {
  assert.equal(pgdata.length, 150);
  assert.ok(Buffer.byteLength(exporter.socketPath) > 107, "the socket path exceeds sun_path");
  const direct = await curlSocket(exporter.socketPath, "/autoscaling_metrics");
  assert.equal(direct.status, 200);
  assert.match(direct.headers["content-type"], /^text\/plain; version=0\.0\.4/);
  assertAutoscalingBody(direct.body);
  const viaAgent = await httpGet(`${forwarder.url}/autoscaling_metrics`);
  assert.equal(viaAgent.status, 200);
  assert.equal(viaAgent.headers["content-type"], direct.headers["content-type"]);
  assertAutoscalingBody(viaAgent.body);
  const metrics = await curlSocket(exporter.socketPath, "/metrics");
  const fams = strictParse(metrics.body);
  for (const name of [...SIX, "compute_exporter_up", "connection_counts", "db_total_size"])
    assert.ok(fams.has(name), name);
  assert.equal((await curlSocket(exporter.socketPath, "/nope")).status, 404);
});

/** Tries to connect to the socket as `user`, from inside the socket's directory (so the path fits). */
function connectAs(user: { uid: number; gid: number }, dir: string): Promise<string> {
  const script = `
    const net = require("node:net");
    try { process.chdir(process.argv[1]); } catch (e) { console.log(e.code); process.exit(0); }
    const s = net.connect("./neon-communicator.socket");
    s.on("connect", () => { console.log("CONNECTED"); s.destroy(); });
    s.on("error", (e) => console.log(e.code));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", script, dir], { uid: user.uid, gid: user.gid, cwd: "/" });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.on("error", reject);
    child.on("exit", () => resolve(out.trim()));
  });
}

test("the socket is 0600, owned by the Postgres OS user, and another OS user cannot connect", async (t) => {
  const st = statSync(exporter.socketPath);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
  if (!pgOsUser) {
    t.diagnostic("not running as root: cannot switch users, checked the mode only");
    return;
  }
  assert.equal(st.uid, pgOsUser.uid);
  const nobody = lookupOsUser("nobody");
  assert.equal(
    await connectAs(pgOsUser, pgdata),
    "CONNECTED",
    "control: the owner connects with the same script",
  );
  assert.equal(await connectAs(nobody, pgdata), "EACCES", "PGDATA itself is closed to others");
  // Even with the directory opened up, the socket's own mode keeps others out.
  chmodSync(pgdata, 0o711);
  try {
    assert.equal(await connectAs(nobody, pgdata), "EACCES");
  } finally {
    chmodSync(pgdata, 0o700);
  }
});

test("allow-list answers 403 and rate limit 429 with Retry-After, as JSON errors", async () => {
  const denied = await startForwarder({
    exporter,
    access: createAutoscalingAccess({ allow: "10.0.0.0/8,fd00::/8" }),
  });
  extra.push(denied);
  const r403 = await httpGet(`${denied.url}/autoscaling_metrics`);
  assert.equal(r403.status, 403);
  assert.match(JSON.parse(r403.body).error, /not allowed/);
  const allowed = await startForwarder({
    exporter,
    access: createAutoscalingAccess({ allow: "127.0.0.0/8" }),
  });
  extra.push(allowed);
  assert.equal((await httpGet(`${allowed.url}/autoscaling_metrics`)).status, 200);

  const limited = await startForwarder({
    exporter,
    access: createAutoscalingAccess({ rate: "1/m,burst=2" }),
  });
  extra.push(limited);
  assert.equal((await httpGet(`${limited.url}/autoscaling_metrics`)).status, 200);
  assert.equal((await httpGet(`${limited.url}/autoscaling_metrics`)).status, 200);
  const r429 = await httpGet(`${limited.url}/autoscaling_metrics`);
  assert.equal(r429.status, 429);
  assert.ok(Number(r429.headers["retry-after"]) >= 1);
  assert.match(JSON.parse(r429.body).error, /too many/);
});

test("a forwarder whose exporter is stopped answers 502 at once, not at its timeout", async (t) => {
  const dir = tempDir("cct-noexp-");
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const timeoutMs = 120_000;
  const stopped = startExporter({
    pgdata: dir,
    connstr: pg.connstr(),
    log: captureLog("silent").log,
    socketOwner: pgOsUser,
    stateFile: null,
    entry: await bundledExporterEntry(),
  });
  await stopped.stop();
  const f = await startForwarder({ exporter: stopped, timeoutMs });
  extra.push(f);
  const t0 = Date.now();
  const r = await httpGet(`${f.url}/autoscaling_metrics`, timeoutMs);
  assert.equal(r.status, 502);
  assert.match(JSON.parse(r.body).error, /exporter/);
  assert.ok(Date.now() - t0 < timeoutMs / 4, `502 after ${Date.now() - t0} ms: it waited for the timeout`);
});

test("a crash of the exporter thread: restarted after the first back-off, no answer of the dead one reused, no hang", async (t) => {
  const thread = exporter.threadId;
  assert.ok(thread !== undefined);
  const restartsBefore = exporter.restarts;
  const linesBefore = exporterLog.lines.length;
  // A forwarder whose timeout is far beyond the test: a 502 must come from the thread's end.
  const timeoutMs = 120_000;
  const f = await startForwarder({ exporter, timeoutMs });
  extra.push(f);
  // A just-collected answer, which the forwarder may reuse for most of a second: it must not
  // outlive the exporter.
  await waitFor(
    "a just-collected answer",
    async () =>
      Number((await httpGet(`${f.url}/autoscaling_metrics`)).headers["x-exporter-data-age-seconds"]) < 0.1,
    30_000,
    20,
  );
  const crashedAt = Date.now();
  assert.equal((await curlSocket(exporter.socketPath, "/test/crash", 10, "POST")).status, 202);
  await waitFor("the exporter to die", () => exporter.threadId !== thread, 30_000, 5);
  // Until the new exporter answers: 502s at once, or 200s with values collected after the crash
  // (by the new exporter), never the dead exporter's reused answer.
  let errors = 0;
  await waitFor(
    "200 after the restart",
    async () => {
      const t0 = Date.now();
      const r = await httpGet(`${f.url}/autoscaling_metrics`, timeoutMs);
      if (r.status === 502) {
        assert.match(JSON.parse(r.body).error, /exporter/);
        assert.ok(Date.now() - t0 < timeoutMs / 4, `502 after ${Date.now() - t0} ms`);
        errors++;
        return false;
      }
      assert.equal(r.status, 200);
      const collectedAt = t0 - Number(r.headers["x-exporter-data-age-seconds"]) * 1000;
      assert.ok(collectedAt > crashedAt, `values collected ${crashedAt - collectedAt} ms before the crash`);
      return true;
    },
    60_000,
    20,
  );
  t.diagnostic(`200 again ${Date.now() - crashedAt} ms after the crash (${errors} 502s before)`);
  assert.equal(exporter.restarts, restartsBefore + 1);
  assert.notEqual(exporter.threadId, thread);
  const exits = exporterLog.lines
    .slice(linesBefore)
    .filter((l) => l.msg.startsWith("metrics exporter exited"));
  assert.deepEqual(
    exits.map((l) => [l.code, l.restartInMs]),
    [[1, 100]],
    "an uncaught error ends the thread with code 1; restarted after the first back-off step",
  );
  assert.deepEqual(await pg.query("SELECT 1 AS one"), [{ one: 1 }], "Postgres is untouched");
});
