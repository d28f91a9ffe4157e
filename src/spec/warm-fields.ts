// The spec fields of cache prewarm/offload and remote extensions (Neon's ComputeSpec names):
// their shapes and limits, and the cross-field rule that an operation needing endpoint storage
// has everything the storage URL is made of. Kept apart from schema.ts so both concerns read
// in one screen.
import * as v from "valibot";
import { SpecError } from "./spec-error.js";

/** `host[:port]` (a DNS name, IPv4, or `[IPv6]`): Neon formats `http://{addr}/...` with it. */
const HOST_PORT =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export const EndpointStorageAddrSchema = v.pipe(
  v.string(),
  v.maxLength(255, "endpoint_storage_addr is longer than 255 characters"),
  v.regex(HOST_PORT, "expected host:port (no scheme, no path), e.g. endpoint-storage:51243"),
  v.check((s) => {
    const port = /:(\d+)$/.exec(s)?.[1];
    return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
  }, "port must be 1..65535"),
);

export const EndpointStorageTokenSchema = v.pipe(
  v.string(),
  v.minLength(1, "endpoint_storage_token must not be empty"),
  v.maxLength(16384, "endpoint_storage_token is longer than 16384 characters"),
  v.regex(/^[\x21-\x7e]+$/, "endpoint_storage_token must be printable ASCII without spaces"),
);

/** setTimeout's limit (2^31-1 ms) in whole seconds: longer intervals would fire at once. */
export const MAX_OFFLOAD_INTERVAL_S = 2_147_483;

export const OffloadIntervalSchema = v.pipe(
  v.number(),
  v.integer("offload_lfc_interval_seconds must be an integer"),
  v.minValue(1, "offload_lfc_interval_seconds must be at least 1"),
  v.maxValue(
    MAX_OFFLOAD_INTERVAL_S,
    `offload_lfc_interval_seconds must be at most ${MAX_OFFLOAD_INTERVAL_S}`,
  ),
);

/** Extension and library names: they key maps and name archive files, never paths. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$/;
const NameSchema = v.pipe(
  v.string(),
  v.regex(NAME, "expected an extension name ([A-Za-z0-9_.+-], at most 128 characters)"),
);

/** A control file name: written as `<sharedir>/extension/<name>`, so a plain file name. */
const CONTROL_FILE = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,250}\.control$/;
export const MAX_CONTROL_FILE_BYTES = 64 * 1024;

/** `archive_path` is joined to the base URL: relative, no dot segments, no query or fragment. */
export function archivePathProblem(p: string): string | null {
  if (p.length === 0 || p.length > 1024) return "archive_path must be 1..1024 characters";
  if (!/^[A-Za-z0-9_.+/-]+$/.test(p)) return "archive_path may only contain [A-Za-z0-9_.+/-]";
  if (p.startsWith("/")) return "archive_path must be relative to the remote extensions base URL";
  if (p.split("/").some((seg) => seg === "" || seg === "." || seg === ".."))
    return "archive_path must not contain empty, '.' or '..' segments";
  return null;
}

const ExtensionDataSchema = v.object({
  control_data: v.pipe(
    v.record(
      v.pipe(v.string(), v.regex(CONTROL_FILE, "control file names are plain file names ending in .control")),
      v.pipe(
        v.string(),
        v.maxLength(MAX_CONTROL_FILE_BYTES, `a control file is at most ${MAX_CONTROL_FILE_BYTES} characters`),
      ),
    ),
    v.check((r) => Object.keys(r).length <= 64, "at most 64 control files per extension"),
  ),
  archive_path: v.pipe(
    v.string(),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const problem = archivePathProblem(dataset.value);
      if (problem) addIssue({ message: problem });
    }),
  ),
});

const MAX_EXTENSIONS = 4096;

export const RemoteExtSpecSchema = v.object({
  public_extensions: v.nullish(v.pipe(v.array(NameSchema), v.maxLength(MAX_EXTENSIONS))),
  custom_extensions: v.nullish(v.pipe(v.array(NameSchema), v.maxLength(MAX_EXTENSIONS))),
  library_index: v.optional(
    v.pipe(
      v.record(NameSchema, NameSchema),
      v.check((r) => Object.keys(r).length <= MAX_EXTENSIONS, `at most ${MAX_EXTENSIONS} libraries`),
    ),
    {},
  ),
  extension_data: v.optional(
    v.pipe(
      v.record(NameSchema, ExtensionDataSchema),
      v.check((r) => Object.keys(r).length <= MAX_EXTENSIONS, `at most ${MAX_EXTENSIONS} extensions`),
    ),
    {},
  ),
});

/** The fields as ComputeSpecSchema spreads them in. */
export const warmSpecFields = {
  endpoint_storage_addr: v.nullish(EndpointStorageAddrSchema),
  endpoint_storage_token: v.nullish(EndpointStorageTokenSchema),
  autoprewarm: v.optional(v.boolean(), false),
  offload_lfc_interval_seconds: v.nullish(OffloadIntervalSchema),
  remote_extensions: v.nullish(RemoteExtSpecSchema),
};

const HEX32 = /^[0-9a-f]{32}$/i;
/** Endpoint ids become a path segment of the storage URL (and of its files on our server). */
export const ENDPOINT_ID = /^[A-Za-z0-9_-]{1,128}$/;

interface WarmJson {
  endpoint_storage_addr?: string | null;
  endpoint_storage_token?: string | null;
  autoprewarm: boolean;
  offload_lfc_interval_seconds?: number | null;
  tenant_id?: string | null;
  timeline_id?: string | null;
  endpoint_id?: string | null;
  cluster: { settings?: { name: string; value: string | null }[] | null };
}

const setting = (json: WarmJson, name: string) =>
  json.cluster.settings?.find((s) => s.name === name)?.value ?? null;

/**
 * Where the LFC state of this spec's endpoint lives, with Neon's fallbacks to the
 * `neon.*` settings; null fields are what is missing.
 */
export function endpointStorageTarget(json: WarmJson): {
  addr: string | null;
  token: string | null;
  tenantId: string | null;
  timelineId: string | null;
  endpointId: string | null;
} {
  return {
    addr: json.endpoint_storage_addr ?? setting(json, "neon.endpoint_storage_addr"),
    token: json.endpoint_storage_token ?? setting(json, "neon.endpoint_storage_token"),
    tenantId: json.tenant_id ?? setting(json, "neon.tenant_id"),
    timelineId: json.timeline_id ?? setting(json, "neon.timeline_id"),
    endpointId: json.endpoint_id ?? setting(json, "neon.endpoint_id"),
  };
}

/**
 * `autoprewarm` and `offload_lfc_interval_seconds` need the whole storage URL: refused up front
 * rather than failing every prewarm later. Ids that are given must fit in a URL path.
 */
export function checkWarmFields(json: WarmJson, prefix: string): void {
  const t = endpointStorageTarget(json);
  if (t.tenantId != null && t.addr != null && !HEX32.test(t.tenantId))
    throw new SpecError(`${prefix}.tenant_id`, "tenant id must be 32 hex digits to address endpoint storage");
  if (t.timelineId != null && t.addr != null && !HEX32.test(t.timelineId))
    throw new SpecError(
      `${prefix}.timeline_id`,
      "timeline id must be 32 hex digits to address endpoint storage",
    );
  if (t.endpointId != null && t.addr != null && !ENDPOINT_ID.test(t.endpointId))
    throw new SpecError(`${prefix}.endpoint_id`, "endpoint id must match [A-Za-z0-9_-]{1,128}");
  if (t.addr != null && json.endpoint_storage_addr == null) {
    const r = v.safeParse(EndpointStorageAddrSchema, t.addr);
    if (!r.success)
      throw new SpecError(`${prefix}.cluster.settings`, `neon.endpoint_storage_addr: ${r.issues[0].message}`);
  }
  const wanted = json.autoprewarm
    ? "autoprewarm"
    : json.offload_lfc_interval_seconds != null
      ? "offload_lfc_interval_seconds"
      : null;
  if (!wanted) return;
  const missing: [string, unknown][] = [
    ["endpoint_storage_addr", t.addr],
    ["endpoint_storage_token", t.token],
    ["tenant_id", t.tenantId],
    ["timeline_id", t.timelineId],
    ["endpoint_id", t.endpointId],
  ];
  for (const [field, value] of missing) {
    if (value == null || value === "")
      throw new SpecError(
        `${prefix}.${field}`,
        `${wanted} needs ${field} (the LFC state's endpoint storage URL)`,
      );
  }
}
