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
import {
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  file_google_protobuf_descriptor,
} from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ComputeService } from "../gen/compute/v1/compute_service_pb.js";
import { createAuthorizer } from "../src/api/auth/index.js";
import { DescriptorIndex } from "../src/api/grpc/reflection/descriptor-index.js";
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

/**
 * Every symbol a FileDescriptorProto declares, named the way protobuf-go's registry (and so
 * grpc-go's reflection server) resolves them: package-qualified, nested by message, enum values
 * in the scope that declares their enum. Walks the raw descriptor, independent of the server.
 */
function declaredSymbols(file: FileDescriptorProto): string[] {
  const out: string[] = [];
  const join = (scope: string, name: string) => (scope ? `${scope}.${name}` : name);
  const enums = (scope: string, list: FileDescriptorProto["enumType"]) => {
    for (const e of list) {
      out.push(join(scope, e.name));
      for (const v of e.value) out.push(join(scope, v.name));
    }
  };
  const messages = (scope: string, list: FileDescriptorProto["messageType"]) => {
    for (const m of list) {
      const name = join(scope, m.name);
      out.push(name);
      for (const f of m.field) out.push(join(name, f.name));
      for (const o of m.oneofDecl) out.push(join(name, o.name));
      for (const x of m.extension) out.push(join(name, x.name));
      enums(name, m.enumType);
      messages(name, m.nestedType);
    }
  };
  enums(file.package, file.enumType);
  messages(file.package, file.messageType);
  for (const x of file.extension) out.push(join(file.package, x.name));
  for (const svc of file.service) {
    out.push(join(file.package, svc.name));
    for (const m of svc.method) out.push(join(file.package, `${svc.name}.${m.name}`));
  }
  return out;
}

function firstFile(res: ReflectionResponse): FileDescriptorProto {
  const first = res.file_descriptor_response?.file_descriptor_proto[0];
  assert.ok(first, `expected file descriptors, got ${JSON.stringify(res)}`);
  return fromBinary(FileDescriptorProtoSchema, first);
}

test("reflection resolves every symbol kind grpc-go resolves, in every file it serves", async (t) => {
  const session = reflectionSession("v1", grpcJsAddresses(h).unix);
  t.after(() => session.close());
  // The kinds grpcurl asks about, named explicitly (the enum value is the one that used to fail).
  const kinds: Record<string, [string, string]> = {
    service: ["compute.v1.ComputeService", "compute/v1/compute_service.proto"],
    method: ["compute.v1.ComputeService.WatchStatus", "compute/v1/compute_service.proto"],
    message: ["compute.v1.ComputeState", "compute/v1/status.proto"],
    "nested message": ["compute.v1.ComputeState.TimingsEntry", "compute/v1/status.proto"],
    field: ["compute.v1.ComputeState.status", "compute/v1/status.proto"],
    "nested field": ["compute.v1.ComputeState.TimingsEntry.value", "compute/v1/status.proto"],
    oneof: ["compute.v1.DataSource.kind", "compute/v1/spec.proto"],
    "synthetic oneof (proto3 optional)": ["compute.v1.ComputeState._error", "compute/v1/status.proto"],
    enum: ["compute.v1.ComputeStatus", "compute/v1/status.proto"],
    "enum value": ["compute.v1.COMPUTE_STATUS_RUNNING", "compute/v1/status.proto"],
    "enum value of an import": ["google.protobuf.NULL_VALUE", "google/protobuf/struct.proto"],
  };
  for (const [kind, [symbol, file]] of Object.entries(kinds)) {
    const proto = firstFile(await session.ask({ file_containing_symbol: symbol }));
    assert.equal(proto.name, file, `${kind} ${symbol}`);
    assert.ok(declaredSymbols(proto).includes(symbol), `${kind} ${symbol} is declared in ${proto.name}`);
  }
  // As protobuf-go: an enum value is not a member of its enum's name, and a method must exist.
  for (const symbol of [
    "compute.v1.ComputeStatus.COMPUTE_STATUS_RUNNING",
    "compute.v1.ComputeService.Nope",
  ]) {
    const res = await session.ask({ file_containing_symbol: symbol });
    assert.equal(res.error_response?.error_code, grpc.status.NOT_FOUND, symbol);
  }

  // Exhaustive: every symbol of every file reachable from the listed services resolves to a file
  // that declares it.
  const listed = await session.ask({ list_services: "" });
  const files = new Map<string, FileDescriptorProto>();
  for (const svc of listed.list_services_response?.service ?? []) {
    const res = await session.ask({ file_containing_symbol: svc.name });
    for (const b of res.file_descriptor_response?.file_descriptor_proto ?? []) {
      const proto = fromBinary(FileDescriptorProtoSchema, b);
      files.set(proto.name, proto);
    }
  }
  assert.ok(files.has("google/protobuf/timestamp.proto"), [...files.keys()].join());
  let asked = 0;
  for (const proto of files.values()) {
    for (const symbol of declaredSymbols(proto)) {
      const got = firstFile(await session.ask({ file_containing_symbol: symbol }));
      assert.ok(declaredSymbols(got).includes(symbol), `${symbol}: answered with ${got.name}`);
      asked++;
    }
  }
  assert.ok(asked > 200, `${asked} symbols`);
});

test("extensions: by number and all numbers of a type, answered from the declaring file", () => {
  // None of the served files declares an extension; a file that extends a well-known message does.
  const ext = create(FileDescriptorProtoSchema, {
    name: "test/ext.proto",
    package: "test.ext",
    dependency: ["google/protobuf/descriptor.proto"],
    syntax: "proto2",
    extension: [
      { name: "audit", number: 50001, label: 1, type: 9, extendee: ".google.protobuf.MethodOptions" },
      { name: "tier", number: 50000, label: 1, type: 5, extendee: ".google.protobuf.MethodOptions" },
    ],
  });
  const registry = createFileRegistry(ext, (name) =>
    name === "google/protobuf/descriptor.proto" ? file_google_protobuf_descriptor.proto : undefined,
  );
  const file = registry.getFile("test/ext.proto");
  assert.ok(file);
  const index = new DescriptorIndex([file]);
  assert.equal(index.fileContainingExtension("google.protobuf.MethodOptions", 50001)?.name, "test/ext");
  assert.equal(index.fileContainingExtension("google.protobuf.MethodOptions", 7), undefined);
  assert.deepEqual(index.extensionNumbersOf("google.protobuf.MethodOptions"), [50000, 50001]);
  assert.deepEqual(index.extensionNumbersOf("google.protobuf.FileOptions"), []);
  assert.equal(index.extensionNumbersOf("no.such.Type"), undefined);
  assert.equal(index.fileContainingSymbol("test.ext.audit")?.name, "test/ext");
});

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
