// Which extension archive serves a request for `filename`, with Neon's rules
// (compute_api::spec::RemoteExtSpec::get_ext): a library name loses its `.so...` suffix and is
// looked up in library_index; the extension must be in public_extensions or custom_extensions
// and have extension_data. Only a name the spec lists can ever be fetched.
import type { ComputeSpecJson } from "../spec/types.js";

export type RemoteExtSpec = NonNullable<ComputeSpecJson["remote_extensions"]>;

export interface ExtensionArchive {
  /** The extension's name (one download per name). */
  name: string;
  /** Path of its `.tar.zst` below the remote extensions base URL. */
  archivePath: string;
}

export class UnknownExtensionError extends Error {
  override readonly name = "UnknownExtensionError";
}

export function isAllowed(remote: RemoteExtSpec, name: string): boolean {
  return (remote.public_extensions ?? []).includes(name) || (remote.custom_extensions ?? []).includes(name);
}

export function resolveExtension(
  remote: RemoteExtSpec,
  filename: string,
  isLibrary: boolean,
): ExtensionArchive {
  let name = filename;
  if (isLibrary) {
    const lib = filename.replace(/\.so.*$/, "");
    const ext = Object.hasOwn(remote.library_index, lib) ? remote.library_index[lib] : undefined;
    if (ext === undefined) throw new UnknownExtensionError(`library ${lib} is not found`);
    name = ext;
  }
  if (!isAllowed(remote, name)) throw new UnknownExtensionError(`extension ${name} is not found`);
  const data = Object.hasOwn(remote.extension_data, name) ? remote.extension_data[name] : undefined;
  if (!data) throw new UnknownExtensionError(`real_ext_name ${name} is not found`);
  return { name, archivePath: data.archive_path };
}

/** Libraries named in shared_preload_libraries (settings and the postgresql_conf text). */
export function preloadLibraries(spec: ComputeSpecJson): string[] {
  const values: string[] = [];
  for (const s of spec.cluster.settings ?? [])
    if (s.name === "shared_preload_libraries" && s.value) values.push(s.value);
  for (const line of (spec.cluster.postgresql_conf ?? "").split("\n")) {
    const m = /^\s*shared_preload_libraries\s*=?\s*'([^']*)'/.exec(line);
    if (m) values.push(m[1]);
  }
  const libs = values.flatMap((v) => v.split(",").map((l) => l.trim().replace(/^"|"$/g, "")));
  return [...new Set(libs.filter((l) => l && l !== "neon" && l !== "databricks_auth"))];
}
