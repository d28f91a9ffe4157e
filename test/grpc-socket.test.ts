// The trusted Unix socket: mode 0600 in a directory the agent made 0700, so other OS users can
// neither enter the directory nor connect; a stale socket file from a dead agent is replaced,
// a live server's socket, a non-socket file and over-long paths are refused; close() removes
// only its own socket file.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { startGrpcServer } from "../src/api/grpc/index.js";
import { createFakeComputeApi } from "./support/grpc-fake-api.js";
import { connectClient, startGrpcHarness } from "./support/grpc-harness.js";

const silent = pino({ level: "silent" });

function tempRoot(t: { after(fn: () => void): void }): string {
  const root = mkdtempSync(path.join(os.tmpdir(), "cc-sock-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

const start = (socketPath: string) =>
  startGrpcServer({
    api: createFakeComputeApi(),
    socketPath,
    host: "127.0.0.1",
    port: 0,
    authorizer: null,
    log: silent,
  });

function nobodyIds(): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("nobody:"));
  assert.ok(line, "no nobody user");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** Tries to connect to `socketPath` as another OS user; resolves with the error code or "connected". */
function connectAsNobody(socketPath: string): Promise<string> {
  const script = `require("net").connect(${JSON.stringify(socketPath)})
    .on("connect", () => { console.log("connected"); process.exit(0); })
    .on("error", (e) => { console.log(e.code); process.exit(0); });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", script], {
      ...nobodyIds(),
      cwd: "/",
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.once("error", reject);
    child.once("close", () => resolve(out.trim()));
  });
}

test("the socket is 0600 in a 0700 directory of the agent's user; other users cannot connect", async (t) => {
  const h = await startGrpcHarness();
  t.after(() => h.close());
  const sock = statSync(h.socketPath);
  assert.ok(sock.isSocket());
  assert.equal(sock.mode & 0o777, 0o600);
  const dir = statSync(path.dirname(h.socketPath));
  assert.equal(dir.mode & 0o777, 0o700, "the directory the server created is not enterable by others");
  assert.equal(dir.uid, process.getuid?.());
  // The owner (us) gets in without a token.
  assert.ok((await connectClient("grpc", { socketPath: h.socketPath }).status({})).state);
  if (process.getuid?.() === 0) {
    assert.equal(await connectAsNobody(h.socketPath), "EACCES", "blocked by the directory");
    // Even with the directory opened up, the socket's own mode keeps others out.
    chmodSync(path.dirname(h.socketPath), 0o755);
    assert.equal(await connectAsNobody(h.socketPath), "EACCES", "blocked by the socket mode");
  }
});

test("an existing directory keeps its mode; only directories the server creates are made 0700", async (t) => {
  const root = tempRoot(t);
  const dir = path.join(root, "shared");
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  const server = await start(path.join(dir, "grpc.sock"));
  t.after(() => server.close());
  assert.equal(statSync(dir).mode & 0o777, 0o755);
  assert.equal(statSync(path.join(dir, "grpc.sock")).mode & 0o777, 0o600);
});

test("a directory another user owns, or one others may write to, is refused", async (t) => {
  const root = tempRoot(t);
  const open = path.join(root, "open");
  mkdirSync(open);
  chmodSync(open, 0o777);
  await assert.rejects(start(path.join(open, "grpc.sock")), /writable by others \(mode 777\) and not sticky/);
  const sticky = path.join(root, "sticky");
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777); // like /tmp: others cannot rename or delete our socket
  const server = await start(path.join(sticky, "grpc.sock"));
  await server.close();
  if (process.getuid?.() === 0) {
    const theirs = path.join(root, "theirs");
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, nobodyIds().uid, nobodyIds().gid);
    await assert.rejects(start(path.join(theirs, "grpc.sock")), /belongs to uid \d+, not to this agent/);
  }
});

test("a stale socket file left by a killed agent is replaced", async (t) => {
  const root = tempRoot(t);
  const socketPath = path.join(root, "grpc.sock");
  // A process that binds the socket and dies by SIGKILL leaves the file behind, with no listener.
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [
      "-e",
      `require("net").createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, "SIGKILL"))`,
    ]);
    child.once("error", reject);
    child.once("exit", () => resolve());
  });
  assert.ok(statSync(socketPath).isSocket(), "stale socket file exists");
  const server = await start(socketPath);
  t.after(() => server.close());
  assert.ok((await connectClient("connect-http1", { socketPath }).status({})).state);
});

test("a live server's socket, a regular file and an over-long path are refused", async (t) => {
  const root = tempRoot(t);
  const live = path.join(root, "live.sock");
  const other = net.createServer((s) => s.end());
  await new Promise<void>((r) => other.listen(live, r));
  t.after(() => new Promise<void>((r) => other.close(() => r())));
  await assert.rejects(start(live), /is in use by a running server/);
  assert.ok(statSync(live).isSocket(), "the other server's socket is untouched");

  const file = path.join(root, "not-a-socket");
  writeFileSync(file, "keep me");
  await assert.rejects(start(file), /exists and is not a socket/);
  assert.equal(readFileSync(file, "utf8"), "keep me");

  const long = path.join(root, `${"x".repeat(120)}.sock`);
  await assert.rejects(start(long), /bytes; the limit is 107/);
  assert.equal(existsSync(long), false);
});

test("close() removes its socket file, but not a successor's", async (t) => {
  const root = tempRoot(t);
  const socketPath = path.join(root, "grpc.sock");
  const first = await start(socketPath);
  await first.close();
  assert.equal(existsSync(socketPath), false);

  const old = await start(socketPath);
  rmSync(socketPath); // e.g. an operator cleaned up, and a new agent took the path
  const successor = await start(socketPath);
  t.after(() => successor.close());
  await old.close();
  assert.ok(statSync(socketPath).isSocket(), "the successor's socket survives the old agent's close()");
  assert.ok((await connectClient("grpc", { socketPath }).status({})).state);
});
