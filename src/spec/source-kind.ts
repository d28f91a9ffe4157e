// Which data source a spec's JSON asks for: `source.kind`, else Neon's storage when the spec
// names a pageserver, else initdb. Valibot-free, so that a launch can read it from the spec file
// before the parser has loaded (startup/head-start.ts); parse.ts decides with the same rule.
import type { ComputeSpecJson, DataSource, GenericOption } from "./types.js";

export function settingValue(settings: GenericOption[] | null | undefined, name: string): string | null {
  return settings?.find((s) => s.name === name)?.value ?? null;
}

type SourceFields = Pick<
  ComputeSpecJson,
  "source" | "pageserver_connection_info" | "pageserver_connstring"
> & {
  readonly cluster: Pick<ComputeSpecJson["cluster"], "settings">;
};

/** The source of a spec without `source`: Neon's storage when it names a pageserver. */
export function impliedSourceKind(json: SourceFields): "neon" | "initdb" {
  const neon =
    json.pageserver_connection_info != null ||
    json.pageserver_connstring != null ||
    settingValue(json.cluster.settings, "neon.pageserver_connstring") != null;
  return neon ? "neon" : "initdb";
}

export function sourceKindOf(json: SourceFields): DataSource["kind"] {
  return json.source?.kind ?? impliedSourceKind(json);
}
