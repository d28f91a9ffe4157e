// One prewarm and one offload, start to end: endpoint storage <-> zstd <-> the cache backend
// (Neon's LFC functions when the neon extension is there, shared_buffers + pg_prewarm
// otherwise). Loaded on first use by lfc-controller.ts; the controller owns state and timing.
import type { Logger } from "pino";
import type { ConnectionTarget } from "../postgres/connection.js";
import type { ComputeSpecJson } from "../spec/types.js";
import { zstdCompress, zstdDecompress } from "../zstd/zstd-codec.js";
import { captureBufferState } from "./buffer-capture.js";
import { loadBufferState } from "./buffer-prewarm.js";
import { decodeBufferState, encodeBufferState, isBufferState, pagesIn } from "./buffer-state-format.js";
import { downloadState, uploadState } from "./endpoint-storage-client.js";
import type { LfcOffloadState, LfcPrewarmState } from "./lfc-states.js";
import { captureNeonState, hasNeonCache, loadNeonState } from "./neon-cache.js";
import { storageLocation } from "./storage-location.js";

/** A decompressed state may be this large (a vanilla state of 1 TiB of shared_buffers is far less). */
export const MAX_STATE_UNCOMPRESSED = 512 * 1024 * 1024;

export interface OperationContext {
  spec: ComputeSpecJson;
  target: ConnectionTarget;
  log: Logger;
  signal: AbortSignal;
}

const since = (t: number) => Math.round(performance.now() - t);

export async function runPrewarm(
  ctx: OperationContext,
  fromEndpoint: string | null,
  onProgress: (prewarmed: number, total: number) => void,
): Promise<LfcPrewarmState> {
  const loc = storageLocation(ctx.spec, fromEndpoint);
  ctx.log.info({ url: loc.url.href }, "requesting LFC state from endpoint storage");
  let t = performance.now();
  const compressed = await downloadState(loc, ctx.signal);
  if (!compressed) {
    ctx.log.info({ url: loc.url.href }, "endpoint storage has no LFC state: prewarm skipped");
    return { status: "skipped" };
  }
  const state_download_time_ms = since(t);
  t = performance.now();
  const raw = await zstdDecompress(compressed, MAX_STATE_UNCOMPRESSED).catch((err: unknown) => {
    throw new Error(`decoding LFC state: ${(err as Error).message}`, { cause: err });
  });
  const uncompress_time_ms = since(t);
  ctx.log.info({ compressed: compressed.length, uncompressed: raw.length }, "downloaded LFC state");
  ctx.signal.throwIfAborted();
  t = performance.now();
  let result: { total: number; prewarmed: number; skipped: number };
  if (isBufferState(raw)) {
    const state = decodeBufferState(raw);
    ctx.log.info(
      { pages: pagesIn(state), databases: state.databases.length },
      "loading shared_buffers state with pg_prewarm",
    );
    result = await loadBufferState(state, {
      target: ctx.target,
      log: ctx.log,
      signal: ctx.signal,
      onProgress,
    });
  } else {
    if (!(await hasNeonCache(ctx.target)))
      throw new Error(
        "the LFC state is not a compute_ctl shared_buffers state and this Postgres has no neon.prewarm_local_cache(): corrupt, or from a Neon compute",
      );
    result = await loadNeonState(raw, { target: ctx.target, signal: ctx.signal, onProgress });
  }
  return {
    status: "completed",
    ...result,
    state_download_time_ms,
    uncompress_time_ms,
    prewarm_time_ms: since(t),
  };
}

export async function runOffload(ctx: OperationContext): Promise<LfcOffloadState> {
  const loc = storageLocation(ctx.spec);
  ctx.log.info({ url: loc.url.href }, "reading the LFC state from Postgres");
  let t = performance.now();
  let raw: Buffer | null;
  if (await hasNeonCache(ctx.target)) {
    raw = await captureNeonState(ctx.target);
  } else {
    const state = await captureBufferState(ctx.target, ctx.signal);
    raw = pagesIn(state) > 0 ? encodeBufferState(state) : null;
  }
  if (!raw) {
    ctx.log.info({ url: loc.url.href }, "empty LFC state, not offloading");
    return { status: "skipped" };
  }
  const state_query_time_ms = since(t);
  t = performance.now();
  const compressed = await zstdCompress(raw);
  const compress_time_ms = since(t);
  t = performance.now();
  await uploadState(loc, compressed, ctx.signal);
  ctx.log.info(
    { url: loc.url.href, uncompressed: raw.length, compressed: compressed.length },
    "offloaded LFC state",
  );
  return { status: "completed", state_query_time_ms, compress_time_ms, state_upload_time_ms: since(t) };
}
