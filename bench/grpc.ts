// gRPC API benchmarks (issue 4):
// 1. Unary Status calls per second to the real agent (bin/compute_ctl, waiting for a spec) over
//    its Unix socket and TCP, driven by h2load (nghttp2's HTTP/2 load generator, so the client is
//    not the bottleneck), against a bare node:http2 server answering the very bytes the agent
//    answers (the floor). Target: at least 50% of the floor. Also an agent with JWT keys (a token
//    on every call), and, for reference, the API layer alone on a fake compute with the unary
//    fast path off (every call through connect-node's adapter). h2load counts any HTTP 200 as a
//    success, gRPC errors included: every row also checks that each answer carried the message
//    (a gRPC error is a trailers-only answer, no DATA), from h2load's byte counts.
// 2. A 30 s soak: 100 WatchStatus + 100 StreamMetrics (100 ms) streams with a reconfiguration
//    every 5 s; errors, and heap/handles after the streams close against before.
// Each server runs in its own child process (ours: this file with --child; the floor:
// bench/support/grpc-load.ts, shared with bench/grpc-tls.ts); h2load is installed with
// apt-get (Debian package nghttp2-client) when missing.
// Standalone: `node --import tsx bench/grpc.ts` (`--soak-only` for just the soak).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { ComputeService } from "../gen/compute/v1/compute_service_pb.js";
import { ComputeSpecSchema } from "../gen/compute/v1/spec_pb.js";
import { createAuthorizer } from "../src/api/auth/index.js";
import { startGrpcServer } from "../src/api/grpc/index.js";
import { createFakeComputeApi } from "../test/support/grpc-fake-api.js";
import { grpcJsClient, grpcJsStream } from "../test/support/grpc-harness.js";
import { COMPUTE_ID, tokenKit } from "../test/support/grpc-tokens.js";
import { type BenchSection, fmt, median, type Stats, type SummaryRow } from "./stats.js";
import { type AgentProcess, spawnAgent } from "./support/agent-process.js";
import {
  ensureH2load,
  H2LOAD_ARGS,
  h2load,
  type LoadTarget,
  rawStatus,
  spawnFloor,
  withoutMessage,
} from "./support/grpc-load.js";
import { interleave, verdict } from "./support/interleave.js";
import { benchRoot } from "./support/scratch-dirs.js";

const THIS_FILE = fileURLToPath(import.meta.url);
const run$ = promisify(execFile);
const LOAD_SECONDS = Number(process.env.BENCH_GRPC_SECONDS ?? 4);
const SOAK_SECONDS = Number(process.env.BENCH_GRPC_SOAK_SECONDS ?? 30);
const ROUNDS = 3;
interface ServerInfo {
  port: number;
  socketPath: string;
  token?: string;
}

/** What h2load and rawStatus connect to: the server's TCP port or its Unix socket. */
function loadTarget(info: ServerInfo, transport: "tcp" | "uds"): LoadTarget {
  return {
    port: info.port,
    token: info.token,
    unixSocket: transport === "uds" ? info.socketPath : undefined,
  };
}

// ---- children: the servers under load, each in its own process ----

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
  const info = await childOurs(socketPath, kind === "ours-jwt", kind !== "ours-connect-only");
  process.stdout.write(`${JSON.stringify(info)}\n`);
  process.on("SIGTERM", () => process.exit(0));
}

interface Child {
  proc: ChildProcess;
  info: ServerInfo;
  stop(): Promise<void>;
}

function spawnServer(kind: "ours" | "ours-jwt" | "ours-connect-only", dir: string): Promise<Child> {
  const socketPath = path.join(dir, `${kind}.sock`);
  const args = ["--import", "tsx", THIS_FILE, "--child", kind, socketPath];
  const proc = spawn(process.execPath, args, {
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

/** An agent waiting for a spec (no Postgres yet), optionally with JWT keys for its TCP listener. */
async function startAgentServer(
  root: string,
  withAuth: boolean,
): Promise<{ agent: AgentProcess; info: ServerInfo }> {
  let token: string | undefined;
  const args: string[] = [];
  if (withAuth) {
    const kit = await tokenKit();
    token = await kit.sign(kit.ed, { compute_id: COMPUTE_ID });
    const config = path.join(root, "config.json");
    writeFileSync(config, JSON.stringify({ spec: null, compute_ctl_config: { jwks: kit.jwks } }));
    args.push("-c", config, "--compute-id", COMPUTE_ID);
  }
  const agent = await spawnAgent({ root, args });
  // The gRPC listeners come up once the agent has loaded.
  await agent.waitForLog((e) => String(e.msg).startsWith("gRPC/Connect API listening"), 60_000);
  return { agent, info: { port: agent.grpcPort, socketPath: agent.grpcSocket, token } };
}

interface RowCheck {
  /** Requests h2load counted as succeeded (HTTP 200). */
  succeeded: number;
  /** Of those, answers without their message: gRPC errors (trailers-only) or anything else. */
  withoutMessage: number;
}

async function unaryThroughput(): Promise<{
  stats: Record<string, Stats>;
  failed: number;
  checks: Record<string, RowCheck>;
  frameBytes: number;
}> {
  ensureH2load();
  const dir = mkdtempSync(path.join(os.tmpdir(), "cc-grpc-bench-"));
  const root = benchRoot("ccb-grpc-");
  const agents: AgentProcess[] = [];
  const children: { stop(): Promise<void> }[] = [];
  let failed = 0;
  try {
    const plain = await startAgentServer(benchRoot("a-", root), false);
    agents.push(plain.agent);
    const withJwt = await startAgentServer(benchRoot("j-", root), true);
    agents.push(withJwt.agent);
    // The floor answers exactly what the agent answers (checked OK on both transports).
    const answers = [
      await rawStatus(loadTarget(plain.info, "uds")),
      await rawStatus(loadTarget(withJwt.info, "tcp")),
    ];
    for (const a of answers) {
      if (a.grpcStatus !== "0" || a.data.length < 5)
        throw new Error(`the agent's Status is not OK: grpc-status ${a.grpcStatus}`);
    }
    const frame = answers[0].data;
    const floorSocket = path.join(dir, "floor.sock");
    const floorServer = await spawnFloor(frame, { socketPath: floorSocket });
    children.push(floorServer);
    const floor = { info: { port: floorServer.target.port, socketPath: floorSocket } };
    const connectOnly = await spawnServer("ours-connect-only", dir);
    children.push(connectOnly);
    const fakeFrame = (await rawStatus(loadTarget(connectOnly.info, "uds"))).data.length;
    await checkAnswers(floor.info);
    await checkAnswers(plain.info);
    const checks: Record<string, RowCheck> = {};
    const measure =
      (name: string, info: ServerInfo, target: "tcp" | "uds", frameBytes: number) => async () => {
        const r = await h2load(loadTarget(info, target), LOAD_SECONDS);
        failed += r.failed;
        checks[name] ??= { succeeded: 0, withoutMessage: 0 };
        const c = checks[name];
        c.succeeded += r.succeeded;
        c.withoutMessage += withoutMessage(r, frameBytes);
        return r.rps;
      };
    const stats = await interleave(
      {
        floorUds: measure("floorUds", floor.info, "uds", frame.length),
        oursUds: measure("oursUds", plain.info, "uds", frame.length),
        floorTcp: measure("floorTcp", floor.info, "tcp", frame.length),
        oursTcp: measure("oursTcp", plain.info, "tcp", frame.length),
        oursTcpJwt: measure("oursTcpJwt", withJwt.info, "tcp", frame.length),
        connectOnlyUds: measure("connectOnlyUds", connectOnly.info, "uds", fakeFrame),
      },
      { runs: ROUNDS, warmup: 1 },
    );
    return { stats, failed, checks, frameBytes: frame.length };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await Promise.all(agents.map((a) => a.stop()));
    rmSync(dir, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
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
  const { stats, failed, checks, frameBytes } = await unaryThroughput();
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
  const bad = (name: string) => checks[name]?.withoutMessage ?? 0;
  const answered = (name: string) =>
    `${bad(name)} of ${checks[name]?.succeeded ?? 0} without the message${bad(name) ? " ❌" : ""}`;
  const allAnswered = Object.keys(checks).every((n) => bad(n) === 0);
  const markdown = [
    `Unary \`Status\` calls per second, h2load \`${H2LOAD_ARGS.join(" ")} -D ${LOAD_SECONDS}\` (8 connections x 16 concurrent`,
    "streams, one client thread). Ours: the real agent (`bin/compute_ctl`, an empty compute waiting for its spec) on its",
    "gRPC Unix socket and TCP port; per call it reads the frame, decodes the request, reads the compute's state and encodes",
    `it (${frameBytes} bytes framed). Floor: a bare \`node:http2\` server answering those very bytes to every request, no decoding.`,
    "Each server runs in its own process; rounds are interleaved, " +
      `${ROUNDS} rounds after a warm-up. Failed or errored requests (h2load): ${failed}. h2load counts any HTTP 200 as a`,
    "success, gRPC errors included (they are trailers-only answers, without a message); the last column counts the",
    "answers that did not carry their message, from h2load's DATA byte count.",
    "",
    "| transport | ours | floor (bare node:http2) | ours / floor | target >= 50% | answers checked |",
    "|---|---|---|---|---|---|",
    `| Unix socket | ${rps(stats.oursUds)} | ${rps(stats.floorUds)} | ${udsPct.toFixed(0)}% | ${verdict(udsPct >= 50 && bad("oursUds") === 0)} | ${answered("oursUds")} |`,
    `| TCP | ${rps(stats.oursTcp)} | ${rps(stats.floorTcp)} | ${tcpPct.toFixed(0)}% | ${verdict(tcpPct >= 50 && bad("oursTcp") === 0)} | ${answered("oursTcp")} |`,
    `| TCP, agent with JWT keys, a token on every call (EdDSA; one token, so verified once and then remembered) | ${rps(stats.oursTcpJwt)} | ${rps(stats.floorTcp)} | ${pct(stats.oursTcpJwt, stats.floorTcp).toFixed(0)}% | (informative) | ${answered("oursTcpJwt")} |`,
    `| (reference) the API layer alone on a fake compute, Unix socket, everything through connect-node (\`unaryFastPath: false\`) | ${rps(stats.connectOnlyUds)} | ${rps(stats.floorUds)} | ${pct(stats.connectOnlyUds, stats.floorUds).toFixed(0)}% | (why the fast path exists) | ${answered("connectOnlyUds")} |`,
    `| (floor itself) | | Unix socket / TCP | | | ${answered("floorUds")} / ${answered("floorTcp")} |`,
    "",
    "Unary gRPC over HTTP/2 is served on the raw http2 stream API (src/api/grpc/fast-path/unary-fast-path.ts); Connect, gRPC-Web,",
    "streams and compressed calls go through connect-node's adapter, which costs several times the CPU per call.",
    "",
    `Soak (the API layer in a child process on a fake compute, so its heap and handles can be counted): 100 WatchStatus (grpc-js, Unix socket) + 100 StreamMetrics at 100 ms (connect-es gRPC, TCP) for ${soaked.seconds} s,`,
    "reconfiguring every 5 s; measured after a 2 s warm-up round, heap after a forced GC:",
    "",
    "| snapshots | status messages | errors | heap before -> after | handles before -> after | subscriptions / connections left | verdict |",
    "|---|---|---|---|---|---|---|",
    `| ${soaked.snapshots} | ${soaked.watchMessages} | ${soaked.errors.length} | ${soaked.heapBeforeMb.toFixed(1)} -> ${soaked.heapAfterMb.toFixed(1)} MB | ${soaked.handlesBefore} -> ${soaked.handlesAfter} | ${soaked.subscriptionsAfter} / ${soaked.connectionsAfter} | ${verdict(soakOk)} |`,
  ].join("\n");
  const summary: SummaryRow[] = [
    {
      figure: "gRPC unary Status to the agent over its Unix socket",
      ours: median(stats.oursUds, "req/s"),
      floor: `bare \`node:http2\` answering the same bytes: ${median(stats.floorUds, "req/s")}`,
      target: `>= 50% ${verdict(udsPct >= 50 && allAnswered)} (${udsPct.toFixed(0)}%)`,
    },
  ];
  return { title: "gRPC API: unary throughput and stream soak", markdown, summary };
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
