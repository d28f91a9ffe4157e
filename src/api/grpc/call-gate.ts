// What every call must pass before any byte of its body is read, on every protocol path (Connect,
// gRPC, gRPC-Web through connect-node, and the unary fast path): the access policy all listeners
// share (api/auth/access-policy.ts; every RPC is an `auth` endpoint, MUTATING_METHODS are the
// ones that change the compute; on an mTLS listener without keys the client certificate is the
// credential), except on the Unix socket, whose callers are local. It also clamps a deadline longer than a Node timer can hold
// (~24.8 days) instead of refusing it or letting it wrap to 1 ms. Refused calls are answered in
// the caller's protocol (answerRefused).

import type http from "node:http";
import type { IncomingHttpHeaders } from "node:http";
import type http2 from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  endStreamFlag,
  endStreamToJson,
  errorToJsonBytes,
} from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { type Authorizer, createAccessPolicy } from "../auth/access-policy.js";
import { authErrorToConnect } from "./error-codes.js";

/** Methods that change the compute; without keys only local callers may use them. */
export const MUTATING_METHODS: ReadonlySet<string> = new Set(
  [
    "Configure",
    "Terminate",
    "Promote",
    "CheckWritability",
    "PrewarmLfc",
    "CancelLfcPrewarm",
    "OffloadLfc",
  ].map((m) => `/compute.v1.ComputeService/${m}`),
);

/** setTimeout's limit: a longer delay fires after 1 ms. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const GRPC_TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const GRPC_UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};
const CLAMPED_GRPC_TIMEOUT = `${Math.floor(MAX_TIMEOUT_MS / 1000)}S`;

export interface CallGateOptions {
  /** With keys: every call needs a valid token (null: no keys). */
  authorizer: Authorizer | null;
  /** The Unix socket: every caller is local (and trusted without a token). */
  local: boolean;
  /** --insecure-no-auth: without keys, remote callers may change the compute too. */
  insecureNoAuth: boolean;
  /**
   * mTLS (--tls-client-ca): every peer holds a client certificate that CA signed; without keys
   * that counts as the loopback rule (with keys the token is still required).
   */
  certifiedPeers?: boolean;
}

/**
 * Returns null when the call may proceed (synchronously: the common, cheap case), a promise of
 * null or the refusal when a token must be verified, or the refusal.
 */
export type CallGate = (
  path: string | undefined,
  headers: IncomingHttpHeaders,
  /** The peer's address, asked for only when it matters (a mutating call without keys). */
  peer: () => string | undefined,
) => ConnectError | null | Promise<ConnectError | null>;

const admitted = () => null;
// Made once: the gate runs on every call.
const MUTATING_ENDPOINTS = new Map(
  [...MUTATING_METHODS].map((name) => [name, { name, auth: true, mutating: true }]),
);
const READING_ENDPOINT = { name: "a reading RPC", auth: true, mutating: false };

export function createCallGate(opts: CallGateOptions): CallGate {
  if (opts.local) {
    return (_path, headers) => {
      clampDeadline(headers);
      return null;
    };
  }
  const admit = createAccessPolicy(opts);
  return (path = "", headers, peer) => {
    clampDeadline(headers);
    try {
      const admitting = admit(MUTATING_ENDPOINTS.get(path) ?? READING_ENDPOINT, headers.authorization, peer);
      return admitting === null ? null : admitting.then(admitted, authErrorToConnect);
    } catch (err) {
      return authErrorToConnect(err);
    }
  };
}

/** Rewrites a grpc-timeout / connect-timeout-ms above MAX_TIMEOUT_MS to the maximum. */
export function clampDeadline(headers: IncomingHttpHeaders): void {
  const grpc = headers["grpc-timeout"];
  if (typeof grpc === "string") {
    const m = GRPC_TIMEOUT.exec(grpc);
    if (m && Number(m[1]) * GRPC_UNIT_MS[m[2]] > MAX_TIMEOUT_MS)
      headers["grpc-timeout"] = CLAMPED_GRPC_TIMEOUT;
  }
  const connect = headers["connect-timeout-ms"];
  if (typeof connect === "string" && /^\d{1,10}$/.test(connect) && Number(connect) > MAX_TIMEOUT_MS) {
    headers["connect-timeout-ms"] = String(MAX_TIMEOUT_MS);
  }
}

/**
 * Answers a refused call in its own protocol without reading its body: gRPC and gRPC-Web get a
 * trailers-only response, Connect streams an end-of-stream message, Connect unary the HTTP status
 * of the code with a JSON error. On HTTP/2 the answer ends the stream in its HEADERS frame when it
 * has no body (what gRPC clients expect of trailers-only); HTTP/1.1 connections are closed after
 * the answer, so an unread upload is not drained.
 */
export function answerRefused(
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
  error: ConnectError,
): void {
  const type = req.headers["content-type"] ?? "";
  const head: Record<string, string> = {};
  let status = 200;
  let body: Uint8Array | undefined;
  if (type.startsWith("application/grpc")) {
    setTrailerStatus(new Headers(), error).forEach((value, key) => {
      head[key] = value;
    });
    head["content-type"] = type;
  } else if (type.startsWith("application/connect+")) {
    head["content-type"] = type;
    body = encodeEnvelope(
      endStreamFlag,
      new TextEncoder().encode(JSON.stringify(endStreamToJson(new Headers(), error, undefined))),
    );
  } else {
    status = codeToHttpStatus(error.code);
    head["content-type"] = "application/json";
    body = errorToJsonBytes(error, {});
  }
  if ("stream" in res) {
    const stream = res.stream;
    if (stream.destroyed || stream.headersSent) return;
    stream.respond({ ":status": status, ...head }, { endStream: body === undefined });
    if (body) stream.end(body);
    return;
  }
  if (res.headersSent) return;
  res.writeHead(status, { ...head, connection: "close", "content-length": String(body?.length ?? 0) });
  res.end(body);
}
