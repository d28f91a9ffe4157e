// JWT on the gRPC API: every row of the matrix over gRPC-over-TCP (grpc-js, an independent
// client) gets the same verdict as on the REST API with the same keys; the Unix socket needs no
// token at all.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { type Authorizer, createAuthorizer } from "../src/api/auth/index.js";
import { externalRoutes } from "../src/api/rest/route-table.js";
import { type RestServer, startRestServer } from "../src/api/rest/server.js";
import {
  bearer,
  connectClient,
  type GrpcHarness,
  type GrpcJsClient,
  grpcJsAddresses,
  grpcJsClient,
  grpcJsUnary,
  startGrpcHarness,
} from "./support/grpc-harness.js";
import { type AuthCase, authMatrix, COMPUTE_ID, type TokenKit, tokenKit } from "./support/grpc-tokens.js";

const GRPC_CODE = {
  invalid_argument: grpc.status.UNAUTHENTICATED,
  unauthenticated: grpc.status.UNAUTHENTICATED,
  permission_denied: grpc.status.PERMISSION_DENIED,
} as const;
const REST_STATUS = { invalid_argument: 400, unauthenticated: 401, permission_denied: 403 } as const;

let kit: TokenKit;
let authorizer: Authorizer;
let h: GrpcHarness;
let rest: RestServer;
let tcp: GrpcJsClient;

before(async () => {
  kit = await tokenKit();
  authorizer = await createAuthorizer({ jwks: kit.jwks, computeId: COMPUTE_ID, requireAuth: true });
  h = await startGrpcHarness({ authorizer });
  rest = await startRestServer({
    name: "external",
    host: "127.0.0.1",
    port: 0,
    routes: externalRoutes(),
    api: h.api,
    log: pino({ level: "silent" }),
    authorizer,
  });
  tcp = grpcJsClient(grpcJsAddresses(h).tcp);
});

after(async () => {
  tcp?.close();
  await rest?.close();
  await h?.close();
});

async function grpcVerdict(c: AuthCase): Promise<number> {
  const md = new grpc.Metadata();
  if (c.header !== undefined) md.set("authorization", c.header);
  try {
    await grpcJsUnary(tcp, "status", {}, md);
    return grpc.status.OK;
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
}

/** The same call through connect-node's pipeline (Connect protocol, HTTP/1.1), not the gRPC fast path. */
async function connectVerdict(c: AuthCase): Promise<number> {
  const setHeader: Interceptor = (next) => (req) => {
    if (c.header !== undefined) req.header.set("authorization", c.header);
    return next(req);
  };
  try {
    await connectClient("connect-http1", { tcpUrl: h.tcpUrl }, [setHeader]).status({});
    return grpc.status.OK;
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

async function restVerdict(c: AuthCase): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${rest.port}/status`, {
    headers: c.header === undefined ? {} : { authorization: c.header },
  });
  await res.arrayBuffer();
  return res.status;
}

test("JWT matrix: gRPC and Connect over TCP and REST give the same verdicts (EdDSA and RS256)", async () => {
  for (const key of [kit.ed, kit.rsa]) {
    for (const c of await authMatrix(kit, key)) {
      const expected = c.kind ? GRPC_CODE[c.kind] : grpc.status.OK;
      assert.equal(await grpcVerdict(c), expected, `gRPC (grpc-js, unary fast path): ${c.name}`);
      assert.equal(await connectVerdict(c), expected, `Connect protocol (connect-node): ${c.name}`);
      assert.equal(await restVerdict(c), c.kind ? REST_STATUS[c.kind] : 200, `REST: ${c.name}`);
    }
  }
});

test("the gRPC error carries Neon's reason, for Connect clients too", async () => {
  const wrong = `Bearer ${await kit.sign(kit.ed, { compute_id: "another-compute" })}`;
  const client = connectClient("connect", { tcpUrl: h.tcpUrl }, [bearer(wrong.slice("Bearer ".length))]);
  await assert.rejects(
    client.status({}),
    /permission_denied.*invalid compute ID in authorization token claims/,
  );
  const anonymous = connectClient("connect-http1", { tcpUrl: h.tcpUrl });
  await assert.rejects(anonymous.status({}), /unauthenticated.*invalid authorization token/);
  const ok = await kit.sign(kit.rsa, { scope: "compute_ctl:admin", aud: ["compute"] });
  const admin = connectClient("grpc-web", { tcpUrl: h.tcpUrl }, [bearer(ok)]);
  assert.ok((await admin.status({})).state);
});

test("streaming calls on TCP need a token as well", async () => {
  const anonymous = connectClient("grpc", { tcpUrl: h.tcpUrl });
  await assert.rejects(anonymous.watchStatus({})[Symbol.asyncIterator]().next(), /unauthenticated/);
});

test("the Unix socket needs no token", async () => {
  const unix = grpcJsClient(grpcJsAddresses(h).unix);
  try {
    const res = await grpcJsUnary<{ state: { status: string } }>(unix, "status", {});
    assert.equal(res.state.status, "COMPUTE_STATUS_EMPTY");
  } finally {
    unix.close();
  }
  for (const protocol of ["connect-http1", "grpc", "grpc-web"] as const) {
    const res = await connectClient(protocol, { socketPath: h.socketPath }).status({});
    assert.ok(res.state, protocol);
  }
});
