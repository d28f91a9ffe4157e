// What reflection clients ask for, answered from the descriptors protoc-gen-es embeds in gen/:
// files by name, the file declaring a symbol, and each file's transitive imports, serialized
// as FileDescriptorProto bytes (once, then cached).
import { createRegistry, type DescFile, type Registry, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

export class DescriptorIndex {
  readonly #files = new Map<string, DescFile>();
  readonly #registry: Registry;
  readonly #bytes = new Map<string, Uint8Array>();

  constructor(roots: readonly DescFile[]) {
    const visit = (file: DescFile) => {
      if (this.#files.has(file.name)) return;
      this.#files.set(file.name, file);
      for (const dep of file.dependencies) visit(dep);
    };
    for (const root of roots) visit(root);
    this.#registry = createRegistry(...this.#files.values());
  }

  /** `compute/v1/spec.proto` (DescFile.name has no `.proto` suffix). */
  fileByName(filename: string): DescFile | undefined {
    return this.#files.get(filename.replace(/\.proto$/, ""));
  }

  /** The file declaring a message, enum, service, extension, method or field. */
  fileContainingSymbol(symbol: string): DescFile | undefined {
    const direct = this.#registry.get(symbol);
    if (direct) return direct.file;
    const dot = symbol.lastIndexOf(".");
    if (dot < 0) return undefined;
    const parent = this.#registry.get(symbol.slice(0, dot));
    const member = symbol.slice(dot + 1);
    if (parent?.kind === "service" && parent.methods.some((m) => m.name === member)) return parent.file;
    if (parent?.kind === "message" && parent.fields.some((f) => f.name === member)) return parent.file;
    return undefined;
  }

  isMessage(typeName: string): boolean {
    return this.#registry.getMessage(typeName) !== undefined;
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
