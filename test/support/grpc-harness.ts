// Starts the gRPC/Connect server on the fake compute (test/support/grpc-fake-api.ts) with a
// private socket directory, and builds clients for it: connect-es (Connect, gRPC, gRPC-Web, over
// TCP or the socket) and @grpc/grpc-js (an independent implementation) from the .proto files.
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { pino } from "pino";
import { ComputeService } from "../../gen/compute/v1/compute_service_pb.js";
import type { Authorizer } from "../../src/api/auth/index.js";
import { type GrpcServer, startGrpcServer } from "../../src/api/grpc/index.js";
import { createFakeComputeApi, type FakeComputeApi } from "./grpc-fake-api.js";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PROTO_DIR = path.join(REPO, "proto");

export interface GrpcHarness {
  api: FakeComputeApi;
  server: GrpcServer;
  /** Temp directory holding the socket's (agent-created) directory. */
  root: string;
  socketPath: string;
  tcpUrl: string;
  close(): Promise<void>;
}

export async function startGrpcHarness(
  opts: {
    authorizer?: Authorizer | null;
    stepMs?: number;
    api?: FakeComputeApi;
    /** The server's shutdown grace (default 500 ms). */
    shutdownGraceMs?: number;
    /** false: every call goes through connect-node (the reference the fast path is compared with). */
    unaryFastPath?: boolean;
  } = {},
): Promise<GrpcHarness> {
  const api = opts.api ?? createFakeComputeApi({ stepMs: opts.stepMs });
  const root = mkdtempSync(path.join(os.tmpdir(), "cc-grpc-"));
  // A directory the server must create itself (so it gets 0700).
  const socketPath = path.join(root, "run", "grpc.sock");
  const server = await startGrpcServer({
    api,
    socketPath,
    host: "127.0.0.1",
    port: 0,
    authorizer: opts.authorizer ?? null,
    log: pino({ level: "silent" }),
    shutdownGraceMs: opts.shutdownGraceMs ?? 500,
    unaryFastPath: opts.unaryFastPath,
  });
  return {
    api,
    server,
    root,
    socketPath,
    tcpUrl: `http://127.0.0.1:${server.port}`,
    async close() {
      await server.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export type Protocol = "connect" | "connect-http1" | "grpc" | "grpc-web" | "grpc-web-http1";
export type Target = { tcpUrl: string } | { socketPath: string };

export function connectTransport(
  protocol: Protocol,
  target: Target,
  interceptors: Interceptor[] = [],
): Transport {
  const baseUrl = "tcpUrl" in target ? target.tcpUrl : "http://localhost";
  const socketPath = "socketPath" in target ? target.socketPath : undefined;
  const h2 = socketPath ? { nodeOptions: { createConnection: () => net.connect(socketPath) } } : {};
  const h1 = socketPath ? { nodeOptions: { socketPath } } : {};
  switch (protocol) {
    case "connect":
      return createConnectTransport({ baseUrl, httpVersion: "2", interceptors, ...h2 });
    case "connect-http1":
      return createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors, ...h1 });
    case "grpc":
      return createGrpcTransport({ baseUrl, interceptors, ...h2 });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion: "2", interceptors, ...h2 });
    case "grpc-web-http1":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors, ...h1 });
  }
}

export function connectClient(
  protocol: Protocol,
  target: Target,
  interceptors: Interceptor[] = [],
): Client<typeof ComputeService> {
  return createClient(ComputeService, connectTransport(protocol, target, interceptors));
}

/** A Bearer token on every call. */
export const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };

// biome-ignore lint/suspicious/noExplicitAny: grpc-js service clients are untyped when loaded dynamically
export type GrpcJsClient = grpc.Client & Record<string, any>;

/**
 * A grpc-js ComputeService client from the .proto files; `address` is `127.0.0.1:PORT` or
 * `unix:///path`; plaintext unless `credentials` (grpc.credentials.createSsl) are given.
 */
export function grpcJsClient(
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): GrpcJsClient {
  const def = protoLoader.loadSync("compute/v1/compute_service.proto", {
    includeDirs: [PROTO_DIR],
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    compute: { v1: { ComputeService: grpc.ServiceClientConstructor } };
  };
  return new pkg.compute.v1.ComputeService(address, credentials) as GrpcJsClient;
}

export const grpcJsAddresses = (h: GrpcHarness) => ({
  tcp: `127.0.0.1:${h.server.port}`,
  unix: `unix://${h.socketPath}`,
});

/** Polls `cond` every 10 ms until it holds; fails naming `what` after `ms` (generous by default). */
export async function waitUntil(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Promisified grpc-js unary call. */
export function grpcJsUnary<T>(
  client: GrpcJsClient,
  method: string,
  request: unknown,
  metadata = new grpc.Metadata(),
): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, (err: grpc.ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    );
  });
}

/** Collects a grpc-js server stream until it ends; resolves with the messages and the final status. */
export function grpcJsStream<T>(
  call: grpc.ClientReadableStream<T>,
  onMessage?: (m: T, all: T[]) => void,
): Promise<{ messages: T[]; status: grpc.StatusObject | null; error: grpc.ServiceError | null }> {
  const messages: T[] = [];
  return new Promise((resolve) => {
    let error: grpc.ServiceError | null = null;
    call.on("data", (m: T) => {
      messages.push(m);
      onMessage?.(m, messages);
    });
    call.on("error", (e: grpc.ServiceError) => {
      error = e;
    });
    call.on("status", (status: grpc.StatusObject) => resolve({ messages, status, error }));
  });
}
