// What reflection clients ask for, answered from the descriptors protoc-gen-es embeds in gen/:
// files by name, the file declaring a symbol, extensions, and each file's transitive imports,
// serialized as FileDescriptorProto bytes (once, then cached).
//
// Symbols resolve as grpc-go's reflection server resolves them (protobuf-go's
// Files.FindDescriptorByName), so `grpcurl describe` works on anything it can name: services and
// their methods, messages at any depth with their fields and oneofs (synthetic proto3-optional
// oneofs included), enums, enum values (in the scope that declares the enum, as in C++:
// `compute.v1.COMPUTE_STATUS_RUNNING`, not `compute.v1.ComputeStatus.COMPUTE_STATUS_RUNNING`),
// and extensions.
import {
  createRegistry,
  type DescExtension,
  type DescFile,
  type DescMessage,
  type Registry,
  toBinary,
} from "@bufbuild/protobuf";
import {
  type DescriptorProto,
  type EnumDescriptorProto,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";

const join = (scope: string, name: string) => (scope ? `${scope}.${name}` : name);

export class DescriptorIndex {
  readonly #files = new Map<string, DescFile>();
  readonly #symbols = new Map<string, DescFile>();
  readonly #extensions: DescExtension[] = [];
  readonly #registry: Registry;
  readonly #bytes = new Map<string, Uint8Array>();

  constructor(roots: readonly DescFile[]) {
    const visit = (file: DescFile) => {
      if (this.#files.has(file.name)) return;
      this.#files.set(file.name, file);
      this.#indexFile(file);
      for (const dep of file.dependencies) visit(dep);
    };
    for (const root of roots) visit(root);
    this.#registry = createRegistry(...this.#files.values());
  }

  /**
   * Walks the file's descriptor proto rather than the Desc objects: those leave out map entry
   * messages and proto3-optional synthetic oneofs, which protobuf-go resolves too.
   */
  #indexFile(file: DescFile): void {
    const add = (name: string) => {
      if (!this.#symbols.has(name)) this.#symbols.set(name, file);
    };
    const enums = (scope: string, list: readonly EnumDescriptorProto[]) => {
      for (const e of list) {
        add(join(scope, e.name));
        for (const v of e.value) add(join(scope, v.name));
      }
    };
    const messages = (scope: string, list: readonly DescriptorProto[]) => {
      for (const m of list) {
        const name = join(scope, m.name);
        add(name);
        for (const f of m.field) add(join(name, f.name));
        for (const o of m.oneofDecl) add(join(name, o.name));
        for (const x of m.extension) add(join(name, x.name));
        enums(name, m.enumType);
        messages(name, m.nestedType);
      }
    };
    const pkg = file.proto.package;
    enums(pkg, file.proto.enumType);
    messages(pkg, file.proto.messageType);
    for (const x of file.proto.extension) add(join(pkg, x.name));
    for (const svc of file.proto.service) {
      const name = join(pkg, svc.name);
      add(name);
      for (const m of svc.method) add(join(name, m.name));
    }
    const extensions = (list: readonly DescExtension[], nested: readonly DescMessage[]) => {
      this.#extensions.push(...list);
      for (const m of nested) extensions(m.nestedExtensions, m.nestedMessages);
    };
    extensions(file.extensions, file.messages);
  }

  /** `compute/v1/spec.proto` (DescFile.name has no `.proto` suffix). */
  fileByName(filename: string): DescFile | undefined {
    return this.#files.get(filename.replace(/\.proto$/, ""));
  }

  /** The file declaring a service, method, message, field, oneof, enum, enum value or extension. */
  fileContainingSymbol(symbol: string): DescFile | undefined {
    return this.#symbols.get(symbol);
  }

  /** The file declaring extension `number` of message `typeName`. */
  fileContainingExtension(typeName: string, number: number): DescFile | undefined {
    const message = this.#registry.getMessage(typeName);
    return message ? this.#registry.getExtensionFor(message, number)?.file : undefined;
  }

  /** The extension numbers declared for `typeName` (sorted), or undefined for an unknown type. */
  extensionNumbersOf(typeName: string): number[] | undefined {
    if (!this.#registry.getMessage(typeName)) return undefined;
    return this.#extensions
      .filter((x) => x.extendee.typeName === typeName)
      .map((x) => x.number)
      .sort((a, b) => a - b);
  }

  /** The file's FileDescriptorProto, then those of everything it imports (each once). */
  serializedWithDependencies(file: DescFile): Uint8Array[] {
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    const visit = (f: DescFile) => {
      if (seen.has(f.name)) return;
      seen.add(f.name);
      out.push(this.#serialized(f));
      for (const dep of f.dependencies) visit(dep);
    };
    visit(file);
    return out;
  }

  #serialized(file: DescFile): Uint8Array {
    let bytes = this.#bytes.get(file.name);
    if (!bytes) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      this.#bytes.set(file.name, bytes);
    }
    return bytes;
  }
}
