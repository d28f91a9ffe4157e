// Where an endpoint's cache state lives in endpoint storage, as Neon addresses it:
// `http://{endpoint_storage_addr}/{tenant_id}/{timeline_id}/{endpoint_id}/lfc_state` with
// `Authorization: Bearer {endpoint_storage_token}`. The spec validated the parts (spec/warm-fields.ts);
// they are checked again here because `from_endpoint` comes from a request.

import type { ComputeSpecJson } from "../spec/types.js";
import { ENDPOINT_ID, endpointStorageTarget } from "../spec/warm-fields.js";

export const LFC_STATE_KEY = "lfc_state";

export interface StorageLocation {
  url: URL;
  token: string;
}

export class StorageLocationError extends Error {
  override readonly name = "StorageLocationError";
}

/** Checks a `from_endpoint` value before anything starts (the caller answers 400). */
export function checkEndpointId(id: string): string | null {
  return ENDPOINT_ID.test(id) ? null : "from_endpoint must match [A-Za-z0-9_-]{1,128}";
}

/** `fromEndpoint` overrides the spec's endpoint_id (prewarming from another endpoint's state). */
export function storageLocation(json: ComputeSpecJson, fromEndpoint: string | null = null): StorageLocation {
  const t = endpointStorageTarget(json);
  const endpointId = fromEndpoint ?? t.endpointId;
  if (!t.addr) throw new StorageLocationError("endpoint_storage_addr is missing from the spec");
  if (!t.token) throw new StorageLocationError("endpoint_storage_token is missing from the spec");
  if (!t.tenantId || !t.timelineId)
    throw new StorageLocationError("tenant_id and timeline_id are missing from the spec");
  if (!endpointId)
    throw new StorageLocationError("endpoint_id is missing from the spec and no from_endpoint was given");
  for (const part of [t.tenantId, t.timelineId, endpointId]) {
    if (!/^[A-Za-z0-9_-]+$/.test(part))
      throw new StorageLocationError(`unsafe path component ${JSON.stringify(part)}`);
  }
  const url = new URL(`http://${t.addr}/${t.tenantId}/${t.timelineId}/${endpointId}/${LFC_STATE_KEY}`);
  return { url, token: t.token };
}
