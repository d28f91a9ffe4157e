// Where a Neon compute's storage is, resolved from the spec: the pageserver shards, the
// safekeepers, the tenant/timeline, and the auth token. Neon accepts each of these in a newer
// field and older fallbacks (legacy connstring, `neon.*` entries in cluster.settings); this is
// the one place that knows the precedence.
import type { ComputeSpec, ComputeSpecJson, PageserverConnectionInfo } from "../../spec/types.js";

export interface NeonStorage {
  readonly tenantId: string;
  readonly timelineId: string;
  /** libpq URL of the first pageserver of each shard, shard 0 first; null where a shard has none. */
  readonly shardUrls: readonly (string | null)[];
  /** `host:port` of each safekeeper. */
  readonly safekeepers: readonly string[];
  readonly safekeepersGeneration: number | null;
  readonly authToken: string | null;
  /** `neon.compute_mode`: primary, replica or static. */
  readonly computeMode: "primary" | "replica" | "static";
}

function setting(json: ComputeSpecJson, name: string): string | null {
  return json.cluster.settings?.find((s) => s.name === name)?.value ?? null;
}

/** Shard map key: `{shard_number:02x}{shard_count:02x}` (unsharded: "0000"). */
function shardKey(n: number, count: number): string {
  return n.toString(16).padStart(2, "0") + count.toString(16).padStart(2, "0");
}

/** The first pageserver's libpq URL of each shard, shard 0 first (null where it has none). */
export function connectionInfoShardUrls(info: PageserverConnectionInfo): (string | null)[] {
  const urls: (string | null)[] = [];
  for (let n = 0; n < Math.max(1, info.shard_count); n++) {
    const key = shardKey(n, info.shard_count);
    const shard = info.shards[key];
    if (!shard) throw new Error(`pageserver_connection_info: shard ${key} is missing`);
    urls.push(shard.pageservers[0]?.libpq_url ?? null);
  }
  return urls;
}

function shardUrls(json: ComputeSpecJson): (string | null)[] {
  const info = json.pageserver_connection_info;
  if (info) return connectionInfoShardUrls(info);
  const legacy = json.pageserver_connstring ?? setting(json, "neon.pageserver_connstring");
  return (legacy ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `g#<n>:` may prefix a `neon.safekeepers` value; it is the generation, not a host. */
function splitGeneration(value: string): { generation: number | null; list: string } {
  const m = /^g#(\d+):(.*)$/.exec(value);
  return m ? { generation: Number(m[1]), list: m[2] } : { generation: null, list: value };
}

export function resolveNeonStorage(spec: ComputeSpec): NeonStorage {
  const json = spec.json;
  const tenantId = json.tenant_id ?? setting(json, "neon.tenant_id");
  const timelineId = json.timeline_id ?? setting(json, "neon.timeline_id");
  if (!tenantId) throw new Error("neon source: tenant id should be provided");
  if (!timelineId) throw new Error("neon source: timeline id should be provided");
  const urls = shardUrls(json);
  if (urls.length === 0) throw new Error("neon source: pageserver connection information should be provided");
  let safekeepers = json.safekeeper_connstrings;
  let generation = json.safekeepers_generation ?? null;
  if (safekeepers.length === 0) {
    const fromSetting = splitGeneration(setting(json, "neon.safekeepers") ?? "");
    safekeepers = fromSetting.list.split(",").filter(Boolean);
    generation ??= fromSetting.generation;
  }
  return {
    tenantId,
    timelineId,
    shardUrls: urls,
    safekeepers,
    safekeepersGeneration: generation,
    authToken: json.storage_auth_token ?? null,
    computeMode: spec.mode.kind,
  };
}

/** The pageserver the basebackup comes from: the first pageserver of shard 0. */
export function basebackupPageserverUrl(storage: NeonStorage): string {
  const url = storage.shardUrls[0];
  if (!url) throw new Error("neon source: shard 0 has no libpq_url (only the libpq protocol is supported)");
  return url;
}
