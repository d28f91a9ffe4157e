// gRPC API benchmarks (issue 4):
// 1. Unary Status calls per second over the Unix socket and TCP, driven by h2load (nghttp2's
//    HTTP/2 load generator, so the client is not the bottleneck), against a bare node:http2
//    server answering the same fixed gRPC frame as the floor. Target: at least 50% of the floor.
//    Also TCP with a JWT on every call, and the Unix socket with the unary fast path off (every
//    call through connect-node's adapter).
// 2. A 30 s soak: 100 WatchStatus + 100 StreamMetrics (100 ms) streams with a reconfiguration
//    every 5 s; errors, and heap/handles after the streams close against before.
// Each server runs in its own child process (this file with --child); h2load is installed with
// apt-get (Debian package nghttp2-client) when missing.
// Standalone: `node --import tsx bench/grpc.ts` (`--soak-only` for just the soak).
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { ComputeService, StatusResponseSchema } from "../gen/compute/v1/compute_service_pb.js";
import { ComputeSpecSchema } from "../gen/compute/v1/spec_pb.js";
import { createAuthorizer } from "../src/api/auth/index.js";
import { startGrpcServer } from "../src/api/grpc/index.js";
import { computeStateToProto } from "../src/api/grpc/state-to-proto.js";
import { createFakeComputeApi } from "../test/support/grpc-fake-api.js";
import { grpcJsClient, grpcJsStream } from "../test/support/grpc-harness.js";
import { COMPUTE_ID, tokenKit } from "../test/support/grpc-tokens.js";
import { type BenchSection, fmt, type Stats } from "./stats.js";
import { interleave, verdict } from "./support/interleave.js";

const THIS_FILE = fileURLToPath(import.meta.url);
const run$ = promisify(execFile);
const LOAD_SECONDS = Number(process.env.BENCH_GRPC_SECONDS ?? 4);
const SOAK_SECONDS = Number(process.env.BENCH_GRPC_SOAK_SECONDS ?? 30);
const ROUNDS = 3;
// h2load: 8 connections x 16 concurrent streams, one client thread (2-core machine: one for
// the server, one for the load generator).
const H2LOAD_ARGS = ["-t", "1", "-c", "8", "-m", "16"];
const STATUS_PATH = "/compute.v1.ComputeService/Status";
const EMPTY_REQUEST = Buffer.alloc(5); // gRPC frame: uncompressed, length 0 (an empty StatusRequest)

interface ServerInfo {
  port: number;
  socketPath: string;
  token?: string;
}

// ---- children: the servers under load, each in its own process ----

function grpcFrame(message: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** What our server answers to Status on a fresh fake compute, framed: the floor sends exactly this. */
function statusFrame(): Buffer {
  const api = createFakeComputeApi();
  const state = computeStateToProto(api.status(), api.timings());
  return grpcFrame(toBinary(StatusResponseSchema, create(StatusResponseSchema, { state })));
}

async function childFloor(socketPath: string): Promise<ServerInfo> {
  const frame = statusFrame();
  const onStream = (stream: http2.ServerHttp2Stream) => {
    stream.on("data", () => {});
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(frame);
    });
  };
  const tcp = http2.createServer().on("stream", onStream);
  const uds = http2.createServer().on("stream", onStream);
  await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
  await new Promise<void>((r) => uds.listen(socketPath, r));
  return { port: (tcp.address() as { port: number }).port, socketPath };
}

async function childOurs(socketPath: string, withAuth: boolean, fastPath = true): Promise<ServerInfo> {
  let token: string | undefined;
  let authorizer = null;
  if (withAuth) {
    const kit = await tokenKit();
    authorizer = await createAuthorizer({ jwks: kit.jwks, computeId: COMPUTE_ID, requireAuth: true });
    token = await kit.sign(kit.ed, { compute_id: COMPUTE_ID });
  }
  const server = await startGrpcServer({
    api: createFakeComputeApi(),
    socketPath,
    host: "127.0.0.1",
    port: 0,
    authorizer,
    log: pino({ level: "silent" }),
    unaryFastPath: fastPath,
  });
  return { port: server.port, socketPath, token };
}

async function child(kind: string, socketPath: string): Promise<void> {
  const info =
    kind === "floor"
      ? await childFloor(socketPath)
      : await childOurs(socketPath, kind === "ours-jwt", kind !== "ours-connect-only");
  process.stdout.write(`${JSON.stringify(info)}\n`);
  process.on("SIGTERM", () => process.exit(0));
}

interface Child {
  proc: ChildProcess;
  info: ServerInfo;
  stop(): Promise<void>;
}

function spawnServer(kind: "floor" | "ours" | "ours-jwt" | "ours-connect-only", dir: string): Promise<Child> {
  const socketPath = path.join(dir, `${kind}.sock`);
  const proc = spawn(process.execPath, ["--import", "tsx", THIS_FILE, "--child", kind, socketPath], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    proc.once("exit", (code) => reject(new Error(`${kind} server exited early (${code})`)));
    proc.stdout?.on("data", (d) => {
      out += d;
      if (!out.includes("\n")) return;
      proc.removeAllListeners("exit");
      resolve({
        proc,
        info: JSON.parse(out) as ServerInfo,
        stop: () =>
          new Promise<void>((r) => {
            proc.once("exit", () => r());
            proc.kill("SIGTERM");
          }),
      });
    });
  });
}

// ---- h2load ----

function ensureH2load(): void {
  try {
    execFileSync("h2load", ["--version"], { stdio: "ignore" });
  } catch {
    console.error("bench grpc: h2load missing, installing nghttp2-client");
    try {
      execFileSync("apt-get", ["install", "-y", "-q", "nghttp2-client"], { stdio: "inherit" });
    } catch {
      // A fresh machine may have no package lists yet.
      execFileSync("apt-get", ["update", "-q"], { stdio: "inherit" });
      execFileSync("apt-get", ["install", "-y", "-q", "nghttp2-client"], { stdio: "inherit" });
    }
  }
}

interface H2loadResult {
  rps: number;
  succeeded: number;
  failed: number;
}

async function h2load(target: "tcp" | "uds", info: ServerInfo, seconds: number): Promise<H2loadResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cc-h2load-"));
  try {
    const body = path.join(dir, "req.bin");
    writeFileSync(body, EMPTY_REQUEST);
    const url = `http://127.0.0.1:${info.port}${STATUS_PATH}`;
    const args = [
      ...H2LOAD_ARGS,
      "-D",
      String(seconds),
      "--warm-up-time=1",
      "-d",
      body,
      "-H",
      "content-type: application/grpc",
      "-H",
      "te: trailers",
      ...(info.token ? ["-H", `authorization: Bearer ${info.token}`] : []),
      ...(target === "uds" ? ["-B", `unix:${info.socketPath}`] : []),
      url,
    ];
    const { stdout } = await run$("h2load", args, { maxBuffer: 1 << 22 });
    const rps = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(stdout);
    const req =
      /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
    if (!rps || !req) throw new Error(`unexpected h2load output:\n${stdout}`);
    return { rps: Number(rps[1]), succeeded: Number(req[1]), failed: Number(req[2]) + Number(req[3]) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One real call through grpc-js first, so the load is known to get real answers (not 2xx errors). */
async function checkAnswers(info: ServerInfo): Promise<void> {
  const client = grpcJsClient(`unix://${info.socketPath}`);
  try {
    await new Promise<void>((resolve, reject) =>
      client.status({}, new grpc.Metadata(), (err: Error | null, res: { state?: { status: string } }) =>
        err
          ? reject(err)
          : res.state?.status === "COMPUTE_STATUS_EMPTY"
            ? resolve()
            : reject(new Error("bad answer")),
      ),
    );
  } finally {
    client.close();
  }
}

async function unaryThroughput(): Promise<{ stats: Record<string, Stats>; failed: number }> {
  ensureH2load();
  const dir = mkdtempSync(path.join(os.tmpdir(), "cc-grpc-bench-"));
  const servers = {
    floor: await spawnServer("floor", dir),
    ours: await spawnServer("ours", dir),
    oursJwt: await spawnServer("ours-jwt", dir),
    connectOnly: await spawnServer("ours-connect-only", dir),
  };
  let failed = 0;
  try {
    await checkAnswers(servers.floor.info);
    await checkAnswers(servers.ours.info);
    const measure = (s: Child, target: "tcp" | "uds") => async () => {
      const r = await h2load(target, s.info, LOAD_SECONDS);
      failed += r.failed;
      return r.rps;
    };
    const stats = await interleave(
      {
        floorUds: measure(servers.floor, "uds"),
        oursUds: measure(servers.ours, "uds"),
        floorTcp: measure(servers.floor, "tcp"),
        oursTcp: measure(servers.ours, "tcp"),
        oursTcpJwt: measure(servers.oursJwt, "tcp"),
        connectOnlyUds: measure(servers.connectOnly, "uds"),
      },
      { runs: ROUNDS, warmup: 1 },
    );
    return { stats, failed };
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- soak ----

interface SoakResult {
  seconds: number;
  snapshots: number;
  watchMessages: number;
  errors: string[];
  heapBeforeMb: number;
  heapAfterMb: number;
  handlesBefore: number;
  handlesAfter: number;
  subscriptionsAfter: number;
  connectionsAfter: number;
}

const activeHandles = () =>
  (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
const heapMb = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

/** One round of 100 + 100 streams for `seconds`, reconfiguring every 5 s; clients closed at the end. */
async function soakRound(
  server: { port: number; socketPath: string },
  api: ReturnType<typeof createFakeComputeApi>,
  seconds: number,
): Promise<{ snapshots: number; watchMessages: number; errors: string[] }> {
  const errors: string[] = [];
  const unix = grpcJsClient(`unix://${server.socketPath}`);
  const watches = Array.from({ length: 100 }, () => {
    const call = unix.watchStatus({});
    return { call, done: grpcJsStream<unknown>(call) };
  });
  const abort = new AbortController();
  // Own session managers, so the round can close its client connections (connect-node keeps
  // idle HTTP/2 sessions for minutes otherwise, and they would count as left-over handles).
  const tcpUrl = `http://127.0.0.1:${server.port}`;
  const tcpSessions = new Http2SessionManager(tcpUrl);
  const unixSessions = new Http2SessionManager("http://localhost", undefined, {
    createConnection: () => net.connect(server.socketPath),
  });
  const metricsClient = createClient(
    ComputeService,
    createGrpcTransport({ baseUrl: tcpUrl, sessionManager: tcpSessions }),
  );
  let snapshots = 0;
  const metrics = Array.from({ length: 100 }, async () => {
    try {
      for await (const _ of metricsClient.streamMetrics({ intervalMs: 100 }, { signal: abort.signal }))
        snapshots++;
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Canceled) errors.push(String(err));
    }
  });
  const configure = createClient(
    ComputeService,
    createGrpcTransport({ baseUrl: "http://localhost", sessionManager: unixSessions }),
  );
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    await sleep(Math.min(5000, until - Date.now()));
    if (Date.now() < until) {
      await configure.configure({ spec: create(ComputeSpecSchema, { suspendTimeoutSeconds: -1n }) });
    }
  }
  for (const w of watches) w.call.cancel();
  abort.abort();
  await Promise.all(metrics);
  let watchMessages = 0;
  for (const w of watches) {
    const { messages, status } = await w.done;
    watchMessages += messages.length;
    if (status?.code !== 1) errors.push(`WatchStatus ended with ${status?.code} ${status?.details}`);
  }
  unix.close();
  tcpSessions.abort();
  unixSessions.abort();
  if (api.activeSubscriptions !== 0) await sleep(200);
  return { snapshots, watchMessages, errors };
}

export async function soak(seconds = SOAK_SECONDS): Promise<SoakResult> {
  const api = createFakeComputeApi({ stepMs: 20 });
  const dir = mkdtempSync(path.join(os.tmpdir(), "cc-grpc-soak-"));
  const server = await startGrpcServer({
    api,
    socketPath: path.join(dir, "grpc.sock"),
    host: "127.0.0.1",
    port: 0,
    authorizer: null,
    log: pino({ level: "silent" }),
  });
  try {
    // A short warm-up round first: lazily created caches and pools count as the baseline.
    await soakRound(server, api, 2);
    await sleep(500);
    const heapBefore = heapMb();
    const handlesBefore = activeHandles();
    const r = await soakRound(server, api, seconds);
    await sleep(500);
    return {
      seconds,
      ...r,
      heapBeforeMb: heapBefore,
      heapAfterMb: heapMb(),
      handlesBefore,
      handlesAfter: activeHandles(),
      subscriptionsAfter: api.activeSubscriptions,
      connectionsAfter: server.connectionCount,
    };
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The soak in a child with --expose-gc, so heap figures are after a full collection. */
async function soakInChild(): Promise<SoakResult> {
  const { stdout } = await run$(
    process.execPath,
    ["--expose-gc", "--import", "tsx", THIS_FILE, "--soak-child"],
    {
      maxBuffer: 1 << 22,
    },
  );
  return JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as SoakResult;
}

// ---- report ----

export async function run(): Promise<BenchSection> {
  const { stats, failed } = await unaryThroughput();
  const soaked = await soakInChild();
  const rps = (s: Stats) => fmt(s, "req/s");
  const pct = (ours: Stats, floor: Stats) => (100 * ours.median) / floor.median;
  const udsPct = pct(stats.oursUds, stats.floorUds);
  const tcpPct = pct(stats.oursTcp, stats.floorTcp);
  const soakOk =
    soaked.errors.length === 0 &&
    soaked.subscriptionsAfter === 0 &&
    soaked.connectionsAfter === 0 &&
    soaked.handlesAfter <= soaked.handlesBefore &&
    soaked.heapAfterMb < soaked.heapBeforeMb + 5;
  const markdown = [
    `Unary \`Status\` calls per second, h2load \`${H2LOAD_ARGS.join(" ")} -D ${LOAD_SECONDS}\` (8 connections x 16 concurrent`,
    "streams, one client thread), against a bare `node:http2` server answering the same fixed gRPC frame (the floor).",
    `Both servers run in their own process; rounds are interleaved, ${ROUNDS} rounds after a warm-up. Failed or errored requests: ${failed}.`,
    "",
    "| transport | ours | floor (bare node:http2) | ours / floor | target >= 50% |",
    "|---|---|---|---|---|",
    `| Unix socket | ${rps(stats.oursUds)} | ${rps(stats.floorUds)} | ${udsPct.toFixed(0)}% | ${verdict(udsPct >= 50)} |`,
    `| TCP | ${rps(stats.oursTcp)} | ${rps(stats.floorTcp)} | ${tcpPct.toFixed(0)}% | ${verdict(tcpPct >= 50)} |`,
    `| TCP with a JWT (EdDSA; one token, so verified once and then remembered) | ${rps(stats.oursTcpJwt)} | ${rps(stats.floorTcp)} | ${pct(stats.oursTcpJwt, stats.floorTcp).toFixed(0)}% | (informative) |`,
    `| Unix socket, everything through connect-node (\`unaryFastPath: false\`) | ${rps(stats.connectOnlyUds)} | ${rps(stats.floorUds)} | ${pct(stats.connectOnlyUds, stats.floorUds).toFixed(0)}% | (why the fast path exists) |`,
    "",
    "Unary gRPC over HTTP/2 is served on the raw http2 stream API (src/api/grpc/unary-fast-path.ts); Connect, gRPC-Web,",
    "streams and compressed calls go through connect-node's adapter, which costs several times the CPU per call.",
    "",
    `Soak: 100 WatchStatus (grpc-js, Unix socket) + 100 StreamMetrics at 100 ms (connect-es gRPC, TCP) for ${soaked.seconds} s,`,
    "reconfiguring every 5 s; measured after a 2 s warm-up round, heap after a forced GC:",
    "",
    "| snapshots | status messages | errors | heap before -> after | handles before -> after | subscriptions / connections left | verdict |",
    "|---|---|---|---|---|---|---|",
    `| ${soaked.snapshots} | ${soaked.watchMessages} | ${soaked.errors.length} | ${soaked.heapBeforeMb.toFixed(1)} -> ${soaked.heapAfterMb.toFixed(1)} MB | ${soaked.handlesBefore} -> ${soaked.handlesAfter} | ${soaked.subscriptionsAfter} / ${soaked.connectionsAfter} | ${verdict(soakOk)} |`,
  ].join("\n");
  return { title: "gRPC API: unary throughput and stream soak", markdown };
}

const argv = process.argv.slice(2);
if (argv[0] === "--child") {
  await child(argv[1], argv[2]);
} else if (argv[0] === "--soak-child") {
  const r = await soak();
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  if (argv[0] === "--soak-only") {
    console.log(await soakInChild());
  } else {
    const section = await run();
    process.stdout.write(`## ${section.title}\n\n${section.markdown}\n`);
  }
  process.exit(0);
}
