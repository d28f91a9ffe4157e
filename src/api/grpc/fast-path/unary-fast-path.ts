// Unary gRPC calls over HTTP/2 (grpc-js, grpcurl, connect's gRPC transport: the control plane's
// hot path, e.g. Status polling) served on the raw http2 stream API. Through connect-node's
// adapter a Status call costs several times the CPU of a bare http2 server answering a fixed
// frame, almost all of it in the adapter's generic pipeline; on this path it costs close to the
// bare server (bench/grpc.ts measures both). Everything outside this narrow
// case (Connect and gRPC-Web protocols, streams, compressed or JSON messages, unknown paths)
// still goes to connect-node, which stays the reference behaviour: the same service
// implementation, error translation and authorization run here, and tests compare the two.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { create, type DescMethodUnary, type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { RequestDeadlines } from "../../listener/request-deadlines.js";
import { type CallGate, MAX_TIMEOUT_MS } from "../call-gate.js";
import { toConnectError } from "../error-codes.js";
import { FastCallContext } from "./fast-call-context.js";
import { framedAnswer } from "./reusable-answer.js";

const FRAME_HEADER_BYTES = 5;

type UnaryFn = (request: unknown, context: HandlerContext) => unknown;

export interface UnaryFastPathOptions {
  service: DescService;
  /** The service implementation connect-node also serves (unary methods are taken from it). */
  impl: Record<string, unknown>;
  /** Passed on the headers before the request is read (token, peer, deadline clamp). */
  gate: CallGate;
  /** Largest request message, not counting its 5-byte prefix (as connect-node's readMaxBytes). */
  maxMessageBytes: number;
  /** Cancels a call whose body does not arrive within the request timeout. */
  deadlines: RequestDeadlines;
  shutdownSignal: AbortSignal;
}

/** Returns a stream handler that serves the call and returns true, or returns false to pass it on. */
export function unaryGrpcFastPath(
  opts: UnaryFastPathOptions,
): (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean {
  const methods = new Map<string, { method: DescMethodUnary; fn: UnaryFn }>();
  for (const method of opts.service.methods) {
    const fn = opts.impl[method.localName];
    if (method.methodKind !== "unary" || typeof fn !== "function") continue;
    methods.set(`/${opts.service.typeName}/${method.name}`, {
      method: method as DescMethodUnary,
      fn: fn.bind(opts.impl) as UnaryFn,
    });
  }
  return (stream, headers) => {
    if (headers[":method"] !== "POST") return false;
    const target = methods.get(headers[":path"] ?? "");
    if (!target) return false;
    const contentType = headers["content-type"];
    if (contentType !== "application/grpc" && contentType !== "application/grpc+proto") return false;
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    // A reset from the client surfaces as an error event; there is nobody left to answer.
    stream.on("error", ignoreStreamError);
    void serve(stream, headers, contentType, target.method, target.fn, opts);
    return true;
  };
}

function ignoreStreamError(): void {}

function tooLarge(bytes: number, max: number): ConnectError {
  // connect-node's wording for the same limit.
  return new ConnectError(
    `message size ${bytes} is larger than configured readMaxBytes ${max}`,
    Code.ResourceExhausted,
  );
}

/**
 * The request body; refuses it as soon as the message is known to exceed `maxMessageBytes`:
 * from the length in its prefix, before the message itself arrives.
 */
function readBody(
  stream: ServerHttp2Stream,
  maxMessageBytes: number,
  deadlines: RequestDeadlines,
): Promise<Buffer | null> {
  const limit = FRAME_HEADER_BYTES + maxMessageBytes;
  deadlines.watch(stream);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let prefixChecked = false;
    const refuse = (bytes: number) => {
      stream.removeAllListeners("data");
      stream.pause();
      reject(tooLarge(bytes, maxMessageBytes));
    };
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
      if (!prefixChecked && size >= FRAME_HEADER_BYTES) {
        prefixChecked = true;
        const head = chunks.length === 1 ? chunk : Buffer.concat(chunks);
        const declared = head.readUInt32BE(1);
        if (declared > maxMessageBytes) return refuse(declared);
      }
      if (size > limit) refuse(size - FRAME_HEADER_BYTES);
    });
    stream.once("end", () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    // The client went away before sending everything: nobody to answer.
    stream.once("close", () => resolve(null));
  });
}

// Codes and texts as connect-node gives them for the same input (test/grpc-fast-path.test.ts).
function parseFrame(body: Buffer): Uint8Array {
  if (body.length === 0) {
    throw new ConnectError("protocol error: missing input message for unary method", Code.Unimplemented);
  }
  const length = body.length >= FRAME_HEADER_BYTES ? body.readUInt32BE(1) : -1;
  if (length < 0 || body.length < FRAME_HEADER_BYTES + length) {
    throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  }
  if (body.length > FRAME_HEADER_BYTES + length) {
    throw new ConnectError(
      "protocol error: received extra input message for unary method",
      Code.Unimplemented,
    );
  }
  if (body[0] !== 0) {
    throw new ConnectError(
      "protocol error: received compressed message without grpc-encoding",
      Code.Internal,
    );
  }
  return body.subarray(FRAME_HEADER_BYTES);
}

/** As connect-node: an undecodable message is INTERNAL ("parse binary: ..."). */
function decode(method: DescMethodUnary, bytes: Uint8Array) {
  // An empty message (Status, Info polling) decodes to the defaults: the message fromBinary
  // would build, without the reflection objects it allocates to read no field at all.
  if (bytes.length === 0) return create(method.input);
  try {
    return fromBinary(method.input, bytes);
  } catch (err) {
    throw new ConnectError(
      `parse binary: ${err instanceof Error ? err.message : String(err)}`,
      Code.Internal,
    );
  }
}

/** Resolves with the handler's result, or rejects when the call's signal aborts (deadline, shutdown). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

async function serve(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  contentType: string,
  method: DescMethodUnary,
  fn: UnaryFn,
  opts: UnaryFastPathOptions,
): Promise<void> {
  const verdict = opts.gate(headers[":path"], headers, () => stream.session?.socket?.remoteAddress);
  const timeout = parseTimeout((headers["grpc-timeout"] as string | undefined) ?? null, MAX_TIMEOUT_MS);
  const ctx = new FastCallContext(
    opts.service,
    method,
    stream,
    headers,
    timeout.timeoutMs,
    opts.shutdownSignal,
  );
  // Only a deadline needs racing: a client that goes away cannot be answered anyway, and on
  // shutdown the listener closes the connection after its grace period.
  const bounded = <T>(work: Promise<T>) => (ctx.hasDeadline ? untilAborted(work, ctx.signal) : work);
  try {
    const refused = verdict === null || verdict instanceof ConnectError ? verdict : await verdict;
    if (refused) throw refused;
    if (timeout.error) throw timeout.error;
    const body = await bounded(readBody(stream, opts.maxMessageBytes, opts.deadlines));
    if (body === null) return;
    const request = decode(method, parseFrame(body));
    const result = await bounded(Promise.resolve(fn(request, ctx)));
    const frame = framedAnswer(result as object, () =>
      grpcFrame(toBinary(method.output, create(method.output, result as never))),
    );
    respondMessage(stream, contentType, frame, ctx);
  } catch (err) {
    respondError(stream, contentType, toConnectError(err), ctx);
  } finally {
    ctx.done();
  }
}

function withHeaders(out: OutgoingHttpHeaders, extra: Headers | undefined): OutgoingHttpHeaders {
  extra?.forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

/** One uncompressed gRPC message: flag byte, length, message. */
function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, FRAME_HEADER_BYTES);
  return frame;
}

function respondMessage(
  stream: ServerHttp2Stream,
  contentType: string,
  frame: Buffer,
  ctx: FastCallContext,
): void {
  if (stream.destroyed || stream.headersSent) return;
  const head = withHeaders({ ":status": 200, "content-type": contentType }, ctx.touchedResponseHeader);
  stream.respond(head, { waitForTrailers: true });
  const trailers = withHeaders({ "grpc-status": "0" }, ctx.touchedResponseTrailer);
  stream.once("wantTrailers", () => stream.sendTrailers(trailers));
  stream.end(frame);
}

/** A trailers-only response: the status travels in the one HEADERS frame, as gRPC allows. */
function respondError(
  stream: ServerHttp2Stream,
  contentType: string,
  error: ConnectError,
  ctx: FastCallContext,
): void {
  if (stream.destroyed || stream.headersSent) return;
  const out = withHeaders({ ":status": 200, "content-type": contentType }, ctx.touchedResponseHeader);
  withHeaders(out, ctx.touchedResponseTrailer);
  stream.respond(withHeaders(out, setTrailerStatus(new Headers(), error)), { endStream: true });
}
