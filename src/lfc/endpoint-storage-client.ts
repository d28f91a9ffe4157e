// GET and PUT of the cache state in endpoint storage (Neon's contract): 200 with the zstd bytes,
// 404 when nothing was offloaded yet; PUT answers 200. Downloads are bounded in size.
import { bodyText, HttpRequestError, readBody, request } from "../net/bounded-http.js";
import type { StorageLocation } from "./storage-location.js";

/** Neon's endpoint storage refuses uploads over 100 MiB by default; a state is far smaller. */
export const MAX_STATE_BYTES = 100 * 1024 * 1024;

/** The compressed state, or null when endpoint storage has none (404). */
export async function downloadState(loc: StorageLocation, signal: AbortSignal): Promise<Buffer | null> {
  const res = await request(loc.url, {
    method: "GET",
    headers: { authorization: `Bearer ${loc.token}` },
    signal,
  });
  if (res.status === 404) {
    res.body.resume();
    return null;
  }
  if (res.status !== 200) {
    const text = await bodyText(res);
    throw new HttpRequestError(
      `${res.status} ${res.statusText} querying endpoint storage${text ? `: ${text}` : ""}`,
      res.status,
    );
  }
  return readBody(res, MAX_STATE_BYTES);
}

export async function uploadState(loc: StorageLocation, body: Buffer, signal: AbortSignal): Promise<void> {
  const res = await request(loc.url, {
    method: "PUT",
    headers: { authorization: `Bearer ${loc.token}`, "content-type": "application/octet-stream" },
    body,
    signal,
  });
  const text = await bodyText(res);
  if (res.status !== 200) {
    throw new HttpRequestError(
      `request to endpoint storage failed: ${res.status} ${res.statusText}${text ? `: ${text}` : ""}`,
      res.status,
    );
  }
}
