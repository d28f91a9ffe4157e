// The request path of endpoint storage: `/{tenant_id}/{timeline_id}/{endpoint_id}/{key...}`
// (Neon's endpoint_storage). Parsed from the raw URL, segment by segment after percent-decoding,
// so `..` cannot hide as `%2e%2e` and nothing is normalised away: every segment must be a
// plain name, or the request is refused before any file is touched.
export interface KeyPath {
  tenantId: string;
  timelineId: string;
  endpointId: string;
  /** Key segments below the endpoint, e.g. ["lfc_state"]. */
  key: string[];
}

const HEX32 = /^[0-9a-f]{32}$/;
const ENDPOINT = /^[A-Za-z0-9_-]{1,128}$/;
const KEY_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
const MAX_KEY_DEPTH = 8;

export class BadKeyPath extends Error {
  override readonly name = "BadKeyPath";
}

export function parseKeyPath(rawUrl: string): KeyPath {
  const rawPath = rawUrl.split("?")[0].split("#")[0];
  if (!rawPath.startsWith("/")) throw new BadKeyPath("path must start with /");
  const segments = rawPath
    .slice(1)
    .split("/")
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new BadKeyPath("bad percent-encoding in path");
      }
    });
  if (segments.length < 4) throw new BadKeyPath("expected /{tenant_id}/{timeline_id}/{endpoint_id}/{key}");
  const [tenantId, timelineId, endpointId, ...key] = segments;
  if (!HEX32.test(tenantId)) throw new BadKeyPath("tenant_id must be 32 lowercase hex digits");
  if (!HEX32.test(timelineId)) throw new BadKeyPath("timeline_id must be 32 lowercase hex digits");
  if (!ENDPOINT.test(endpointId)) throw new BadKeyPath("endpoint_id must match [A-Za-z0-9_-]{1,128}");
  if (key.length > MAX_KEY_DEPTH) throw new BadKeyPath(`key is deeper than ${MAX_KEY_DEPTH} segments`);
  for (const seg of key) {
    if (!KEY_SEGMENT.test(seg) || seg === "." || seg === "..")
      throw new BadKeyPath(`invalid key segment ${JSON.stringify(seg)}`);
  }
  return { tenantId, timelineId, endpointId, key };
}
