// Unary gRPC load for the API benchmarks (bench/grpc.ts, bench/grpc-tls.ts): h2load (nghttp2's
// HTTP/2 load generator, so the client is not the bottleneck) sending empty Status requests over
// TCP (plaintext or TLS) or a Unix socket; one Status call with node:http2 that returns the
// grpc-status and the raw answer bytes (what the floor must send); and the floor itself, a bare
// node:http2 server in its own process answering a fixed frame (this file run with --floor).
// h2load counts any HTTP 200 as a success, gRPC errors included: `withoutMessage` tells how many
// of those answers came without their message (a gRPC error is trailers-only, no DATA).
// `cpuMicros` reads a server process's CPU time, which a busy machine disturbs far less than
// its throughput.
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";

const THIS_FILE = fileURLToPath(import.meta.url);
const run$ = promisify(execFile);
export const STATUS_PATH = "/compute.v1.ComputeService/Status";
/** gRPC frame: uncompressed, length 0 (an empty StatusRequest). */
export const EMPTY_REQUEST = Buffer.alloc(5);
/** 8 connections x 16 concurrent streams, one client thread (2 cores: one server, one client). */
export const H2LOAD_ARGS = ["-t", "1", "-c", "8", "-m", "16"];

/** Where a server under load listens. */
export interface LoadTarget {
  port: number;
  /** Set: connect over this Unix socket instead of TCP. */
  unixSocket?: string;
  /** TCP with TLS (ALPN h2); the certificate is not verified by h2load. */
  tls?: boolean;
  token?: string;
}

export function ensureH2load(): void {
  try {
    execFileSync("h2load", ["--version"], { stdio: "ignore" });
  } catch {
    console.error("bench: h2load missing, installing nghttp2-client");
    try {
      execFileSync("apt-get", ["install", "-y", "-q", "nghttp2-client"], { stdio: "inherit" });
    } catch {
      // A fresh machine may have no package lists yet.
      execFileSync("apt-get", ["update", "-q"], { stdio: "inherit" });
      execFileSync("apt-get", ["install", "-y", "-q", "nghttp2-client"], { stdio: "inherit" });
    }
  }
}

export interface H2loadResult {
  rps: number;
  /** Requests answered with HTTP 200 (gRPC errors included). */
  succeeded: number;
  failed: number;
  /** Bytes of DATA received: every OK answer carries exactly one message frame. */
  dataBytes: number;
}

/** Of the HTTP 200 answers, those without their message frame of `frameBytes`. */
export function withoutMessage(r: H2loadResult, frameBytes: number): number {
  return Math.max(0, r.succeeded - Math.floor(r.dataBytes / frameBytes));
}

/**
 * `seconds` of load after `warmUpSeconds` (default 1) h2load does not count; 0 counts every
 * request from the first connection on (to relate the server's CPU time to the calls).
 */
export async function h2load(target: LoadTarget, seconds: number, warmUpSeconds = 1): Promise<H2loadResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cc-h2load-"));
  try {
    const body = path.join(dir, "req.bin");
    writeFileSync(body, EMPTY_REQUEST);
    const url = `${target.tls ? "https" : "http"}://127.0.0.1:${target.port}${STATUS_PATH}`;
    const args = [
      ...H2LOAD_ARGS,
      "-D",
      String(seconds),
      ...(warmUpSeconds > 0 ? [`--warm-up-time=${warmUpSeconds}`] : []),
      "-d",
      body,
      "-H",
      "content-type: application/grpc",
      "-H",
      "te: trailers",
      ...(target.token ? ["-H", `authorization: Bearer ${target.token}`] : []),
      ...(target.unixSocket ? ["-B", `unix:${target.unixSocket}`] : []),
      url,
    ];
    const { stdout } = await run$("h2load", args, { maxBuffer: 1 << 22 });
    const rps = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(stdout);
    const req =
      /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
    const data = /traffic: .*?\((\d+)\) data/.exec(stdout);
    if (!rps || !req || !data) throw new Error(`unexpected h2load output:\n${stdout}`);
    if (target.tls && !/Application protocol: h2/.test(stdout))
      throw new Error(`h2load did not negotiate h2 over TLS:\n${stdout}`);
    return {
      rps: Number(rps[1]),
      succeeded: Number(req[1]),
      failed: Number(req[2]) + Number(req[3]),
      dataBytes: Number(data[1]),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One empty Status call: its grpc-status and the raw DATA bytes. `ca` verifies a TLS server. */
export function rawStatus(
  target: LoadTarget,
  ca?: Buffer,
): Promise<{ grpcStatus: string | undefined; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = target.unixSocket
      ? http2.connect("http://localhost", { createConnection: () => net.connect(target.unixSocket ?? "") })
      : target.tls
        ? http2.connect(`https://localhost:${target.port}`, { ca })
        : http2.connect(`http://127.0.0.1:${target.port}`);
    session.on("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": STATUS_PATH,
      "content-type": "application/grpc",
      te: "trailers",
      ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
    });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    req.on("response", (h) => {
      grpcStatus ??= h["grpc-status"] as string | undefined;
    });
    req.on("trailers", (t) => {
      grpcStatus = t["grpc-status"] as string | undefined;
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      session.close();
      resolve({ grpcStatus, data: Buffer.concat(chunks) });
    });
    req.on("error", reject);
    req.end(EMPTY_REQUEST);
  });
}

/**
 * CPU time (user + system) process `pid` has used so far, in µs, summed over its threads (the
 * main thread, the GC helpers, libuv's pool): from each thread's /proc schedstat, in nanoseconds,
 * where /proc stat counts 10 ms ticks. A thread that ended is no longer counted, so compare two
 * readings only across a window where the process keeps its threads (a server under load does).
 */
export function cpuMicros(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "latin1").split(" ", 1)[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ns / 1000;
}

// ---- the floor: a bare node:http2 server answering a fixed frame, in its own process ----

export interface FloorOptions {
  /** Also listen on this Unix socket (plaintext). */
  socketPath?: string;
  /** TCP through http2.createSecureServer with these PEM files. */
  tls?: { certPath: string; keyPath: string };
}

async function childFloor(frameHex: string, opts: FloorOptions): Promise<void> {
  const frame = Buffer.from(frameHex, "hex");
  const onStream = (stream: http2.ServerHttp2Stream) => {
    stream.on("data", () => {});
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(frame);
    });
  };
  const tcp = opts.tls
    ? http2.createSecureServer({ cert: readFileSync(opts.tls.certPath), key: readFileSync(opts.tls.keyPath) })
    : http2.createServer();
  tcp.on("stream", onStream);
  await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", r));
  if (opts.socketPath) {
    const uds = http2.createServer().on("stream", onStream);
    await new Promise<void>((r) => uds.listen(opts.socketPath, r));
  }
  process.stdout.write(`${JSON.stringify({ port: (tcp.address() as { port: number }).port })}\n`);
  process.on("SIGTERM", () => process.exit(0));
}

export interface Floor {
  target: LoadTarget;
  pid: number;
  stop(): Promise<void>;
}

/** Starts the floor answering `frame` to every request; its target is its TCP port. */
export function spawnFloor(frame: Buffer, opts: FloorOptions = {}): Promise<Floor> {
  const args = ["--import", "tsx", THIS_FILE, "--floor", frame.toString("hex"), JSON.stringify(opts)];
  const proc: ChildProcess = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    proc.once("exit", (code) => reject(new Error(`the floor server exited early (${code})`)));
    proc.stdout?.on("data", (d) => {
      out += d;
      if (!out.includes("\n")) return;
      proc.removeAllListeners("exit");
      resolve({
        target: { port: (JSON.parse(out) as { port: number }).port, tls: Boolean(opts.tls) },
        pid: proc.pid ?? 0,
        stop: () =>
          new Promise<void>((r) => {
            if (proc.exitCode !== null) return r();
            proc.once("exit", () => r());
            proc.kill("SIGTERM");
          }),
      });
    });
  });
}

if (process.argv[2] === "--floor" && import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await childFloor(process.argv[3], JSON.parse(process.argv[4] ?? "{}") as FloorOptions);
}
