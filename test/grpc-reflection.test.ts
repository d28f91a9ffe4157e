// Server reflection as grpcurl uses it: a grpc-js client speaking grpc.reflection.v1 and v1alpha
// (protos from @grpc/reflection, not ours) lists the service, resolves every method's
// descriptors and then calls Status built only from what reflection returned. buf curl (a Go
// client) does the same over the Unix socket. On TCP, reflection needs a token like every call.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import {
  create,
  createFileRegistry,
  type DescMessage,
  type FileRegistry,
  fromBinary,
  toBinary,
} from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ComputeService } from "../gen/compute/v1/compute_service_pb.js";
import { createAuthorizer } from "../src/api/auth/index.js";
import { type GrpcHarness, grpcJsAddresses, REPO, startGrpcHarness } from "./support/grpc-harness.js";
import { COMPUTE_ID, tokenKit } from "./support/grpc-tokens.js";

const REFLECTION_PROTOS = path.join(REPO, "node_modules/@grpc/reflection/build/proto");
type Version = "v1" | "v1alpha";

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

function reflectionClient(version: Version, address: string) {
  const def = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: [REFLECTION_PROTOS],
    keepCase: true,
    oneofs: true,
  });
  // biome-ignore lint/suspicious/noExplicitAny: dynamically loaded package
  const pkg = grpc.loadPackageDefinition(def) as any;
  return new pkg.grpc.reflection[version].ServerReflection(
    address,
    grpc.credentials.createInsecure(),
  ) as grpc.Client &
    Record<string, (md?: grpc.Metadata) => grpc.ClientDuplexStream<unknown, ReflectionResponse>>;
}

/** One ServerReflectionInfo stream; ask() sends a request and waits for its response. */
function reflectionSession(version: Version, address: string, md = new grpc.Metadata()) {
  const client = reflectionClient(version, address);
  const call = client.ServerReflectionInfo(md);
  const pending: { resolve: (r: ReflectionResponse) => void; reject: (e: Error) => void }[] = [];
  let failure: Error | null = null;
  call.on("data", (r: ReflectionResponse) => pending.shift()?.resolve(r));
  call.on("error", (e: Error) => {
    failure = e;
    for (const p of pending.splice(0)) p.reject(e);
  });
  return {
    ask: (req: Record<string, unknown>) =>
      new Promise<ReflectionResponse>((resolve, reject) => {
        if (failure) return reject(failure);
        pending.push({ resolve, reject });
        call.write({ host: "", ...req });
      }),
    close() {
      call.end();
      client.close();
    },
  };
}

function registryFrom(res: ReflectionResponse): FileRegistry {
  const protos = res.file_descriptor_response?.file_descriptor_proto.map((b) =>
    fromBinary(FileDescriptorProtoSchema, b),
  );
  assert.ok(protos?.length, `expected file descriptors, got ${JSON.stringify(res)}`);
  const byName = new Map<string, FileDescriptorProto>(protos.map((p) => [p.name, p]));
  // The requested file comes first and its imports after; resolve imports by name.
  return createFileRegistry(protos[0], (name) => byName.get(name));
}

let h: GrpcHarness;
before(async () => {
  h = await startGrpcHarness();
});
after(() => h.close());

for (const version of ["v1", "v1alpha"] as const) {
  for (const where of ["tcp", "unix"] as const) {
    test(`reflection ${version} over ${where}: list, resolve every method, call Status dynamically`, async (t) => {
      const address = grpcJsAddresses(h)[where];
      const session = reflectionSession(version, address);
      t.after(() => session.close());

      const listed = await session.ask({ list_services: "" });
      const names = listed.list_services_response?.service.map((s) => s.name) ?? [];
      assert.ok(names.includes("compute.v1.ComputeService"), names.join());
      assert.ok(names.includes(`grpc.reflection.${version}.ServerReflection`));

      const serviceRegistry = registryFrom(
        await session.ask({ file_containing_symbol: "compute.v1.ComputeService" }),
      );
      const service = serviceRegistry.getService("compute.v1.ComputeService");
      assert.deepEqual(
        service?.methods.map((m) => m.name),
        ComputeService.methods.map((m) => m.name),
      );
      for (const method of ComputeService.methods) {
        const registry = registryFrom(
          await session.ask({ file_containing_symbol: `compute.v1.ComputeService.${method.name}` }),
        );
        const reflected = registry
          .getService("compute.v1.ComputeService")
          ?.methods.find((m) => m.name === method.name);
        assert.ok(reflected, method.name);
        assert.equal(reflected.input.typeName, method.input.typeName);
        assert.equal(reflected.output.typeName, method.output.typeName);
        assert.equal(reflected.methodKind, method.methodKind);
        assert.ok(registry.getMessage(method.output.typeName)?.fields.length !== undefined);
      }

      const byFile = registryFrom(await session.ask({ file_by_filename: "compute/v1/spec.proto" }));
      assert.ok(byFile.getMessage("compute.v1.ComputeSpec")?.field.cluster);
      const missing = await session.ask({ file_containing_symbol: "compute.v1.NoSuchThing" });
      assert.equal(missing.error_response?.error_code, grpc.status.NOT_FOUND);

      // grpcurl-style: a call built only from the reflected descriptors.
      const method = service?.methods.find((m) => m.name === "Status");
      assert.ok(method);
      const response = await dynamicUnary(address, method.input, method.output);
      const state = response.state as { status: number };
      assert.equal(state.status, 1, "COMPUTE_STATUS_EMPTY");
    });
  }
}

function dynamicUnary(
  address: string,
  input: DescMessage,
  output: DescMessage,
): Promise<Record<string, unknown>> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      `/compute.v1.ComputeService/Status`,
      (m: unknown) => Buffer.from(toBinary(input, m as never)),
      (b: Buffer) => fromBinary(output, b) as unknown as Record<string, unknown>,
      create(input),
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res as Record<string, unknown>);
      },
    );
  });
}

test("buf curl lists and calls through reflection over the Unix socket", async () => {
  const run = promisify(execFile);
  const buf = path.join(REPO, "node_modules/.bin/buf");
  const base = ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--unix-socket", h.socketPath];
  const methods = (await run(buf, [...base, "--list-methods", "http://localhost"])).stdout.trim().split("\n");
  assert.deepEqual(
    methods.filter((m) => m.startsWith("compute.v1.")),
    ComputeService.methods.map((m) => `compute.v1.ComputeService/${m.name}`).sort(),
  );
  const { stdout } = await run(buf, [
    ...base,
    "-d",
    "{}",
    "http://localhost/compute.v1.ComputeService/Status",
  ]);
  assert.equal(JSON.parse(stdout).state.status, "COMPUTE_STATUS_EMPTY");
});

test("on TCP with JWT keys, reflection needs a token too (grpcurl sends its -H headers there)", async (t) => {
  const kit = await tokenKit();
  const authorizer = await createAuthorizer({ jwks: kit.jwks, computeId: COMPUTE_ID, requireAuth: true });
  const secured = await startGrpcHarness({ authorizer });
  t.after(() => secured.close());
  const anonymous = reflectionSession("v1", grpcJsAddresses(secured).tcp);
  t.after(() => anonymous.close());
  await assert.rejects(anonymous.ask({ list_services: "" }), { code: grpc.status.UNAUTHENTICATED });
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${await kit.sign(kit.ed, { compute_id: COMPUTE_ID })}`);
  const authorized = reflectionSession("v1", grpcJsAddresses(secured).tcp, md);
  t.after(() => authorized.close());
  const listed = await authorized.ask({ list_services: "" });
  assert.ok(listed.list_services_response?.service.some((s) => s.name === "compute.v1.ComputeService"));
  // The socket stays open without a token.
  const local = reflectionSession("v1alpha", grpcJsAddresses(secured).unix);
  t.after(() => local.close());
  assert.ok((await local.ask({ list_services: "" })).list_services_response);
});
