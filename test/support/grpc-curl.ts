// curl as an independent client of the Connect/gRPC-Web API over HTTP/1.1 (and HTTP/2 prior
// knowledge): unary Connect JSON, gRPC-Web binary frames, and Connect server streams, each
// framed and parsed by hand so nothing of connect-es is involved.
import { execFile, spawn } from "node:child_process";
import type { Target } from "./grpc-harness.js";

function curlArgs(target: Target, method: string, extra: string[]): string[] {
  const where =
    "socketPath" in target
      ? ["--unix-socket", target.socketPath, `http://localhost/compute.v1.ComputeService/${method}`]
      : [`${target.tcpUrl}/compute.v1.ComputeService/${method}`];
  return ["-sS", "--max-time", "20", ...extra, ...where];
}

function curl(args: string[], input: Buffer | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile("curl", args, { encoding: "buffer", maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      err ? reject(new Error(`curl ${args.join(" ")}: ${err.message} ${stderr}`)) : resolve(stdout),
    );
    child.stdin?.end(input);
  });
}

/** Connect unary with a JSON body; resolves with the HTTP status and the parsed JSON body. */
export async function curlConnectJson(
  target: Target,
  method: string,
  body: unknown,
  opts: { http2?: boolean; headers?: string[] } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const extra = [
    ...(opts.http2 ? ["--http2-prior-knowledge"] : ["--http1.1"]),
    "-H",
    "content-type: application/json",
    ...(opts.headers ?? []).flatMap((h) => ["-H", h]),
    "--data-binary",
    "@-",
    "-w",
    "\n%{http_code}",
  ];
  const out = (await curl(curlArgs(target, method, extra), JSON.stringify(body))).toString();
  const cut = out.lastIndexOf("\n");
  return { status: Number(out.slice(cut + 1)), json: JSON.parse(out.slice(0, cut)) };
}

/** A length-prefixed message (Connect streaming and gRPC-Web framing): flags, u32 BE length, payload. */
export function envelope(flags: number, payload: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

export interface Envelope {
  flags: number;
  payload: Buffer;
}

/** Splits off complete envelopes; returns them and the incomplete rest. */
export function parseEnvelopes(buf: Buffer): { envelopes: Envelope[]; rest: Buffer } {
  const envelopes: Envelope[] = [];
  let at = 0;
  while (buf.length - at >= 5) {
    const len = buf.readUInt32BE(at + 1);
    if (buf.length - at - 5 < len) break;
    envelopes.push({ flags: buf[at], payload: buf.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return { envelopes, rest: buf.subarray(at) };
}

/** gRPC-Web unary with a binary protobuf body over HTTP/1.1; resolves with the frames of the reply. */
export async function curlGrpcWeb(target: Target, method: string, message: Uint8Array): Promise<Envelope[]> {
  const extra = ["--http1.1", "-H", "content-type: application/grpc-web+proto", "--data-binary", "@-"];
  const out = await curl(curlArgs(target, method, extra), envelope(0, message));
  const { envelopes, rest } = parseEnvelopes(out);
  if (rest.length) throw new Error(`trailing bytes after gRPC-Web frames: ${rest.length}`);
  return envelopes;
}

export interface CurlStream {
  /** Messages (parsed JSON) as they arrive. */
  messages: unknown[];
  /** Resolves with the end-of-stream JSON (`{}` or `{"error": ...}`) when curl exits. */
  done: Promise<{ end: Record<string, unknown> | null; exitCode: number | null }>;
  /** Resolves once `n` messages have arrived. */
  received(n: number): Promise<void>;
  kill(): void;
}

/** A Connect server-streaming call (JSON) over HTTP/1.1, read incrementally. */
export function curlConnectStream(target: Target, method: string, body: unknown): CurlStream {
  const args = curlArgs(target, method, [
    "--http1.1",
    "-N",
    "-H",
    "content-type: application/connect+json",
    "--data-binary",
    "@-",
  ]);
  const child = spawn("curl", args, { stdio: ["pipe", "pipe", "pipe"] });
  child.stdin.end(envelope(0, Buffer.from(JSON.stringify(body))));
  const messages: unknown[] = [];
  let end: Record<string, unknown> | null = null;
  let pending: Buffer = Buffer.alloc(0);
  const waiters: { n: number; resolve: () => void }[] = [];
  child.stdout.on("data", (chunk: Buffer) => {
    const { envelopes, rest } = parseEnvelopes(Buffer.concat([pending, chunk]));
    pending = rest;
    for (const e of envelopes) {
      const json = JSON.parse(e.payload.toString());
      // Flag 0x02 marks Connect's end-of-stream message.
      if (e.flags & 0x02) end = json;
      else messages.push(json);
    }
    for (const w of waiters.filter((w) => messages.length >= w.n)) w.resolve();
  });
  const done = new Promise<{ end: Record<string, unknown> | null; exitCode: number | null }>((resolve) =>
    child.once("close", (exitCode) => resolve({ end, exitCode })),
  );
  return {
    messages,
    done,
    received: (n) =>
      messages.length >= n
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waiters.push({ n, resolve });
            done.then(() => reject(new Error(`stream ended after ${messages.length} of ${n} messages`)));
          }),
    kill: () => child.kill(),
  };
}
