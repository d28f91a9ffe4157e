// WatchLfc as an async iterable: both states when called, then every change the core reports
// (progress at most every 250 ms), until the compute terminates or `signal` aborts. Only the
// latest states are kept while the client is slow: a watcher wants where things are, not every
// step they took.
import type { WatchLfcResponse } from "../../../gen/compute/v1/compute_service_pb.js";
import type { ComputeApi } from "../compute-api.js";
import { offloadStateToProto, prewarmStateToProto } from "./lfc-to-proto.js";

const ENDED = new Set(["terminated", "failed"]);

export async function* watchLfc(
  api: ComputeApi,
  signal: AbortSignal,
): AsyncGenerator<Omit<WatchLfcResponse, "$typeName">> {
  const current = () => ({
    prewarm: prewarmStateToProto(api.lfcPrewarmState()),
    offload: offloadStateToProto(api.lfcOffloadState()),
  });
  let pending = false;
  let wake: (() => void) | undefined;
  const unsubscribeLfc = api.subscribeLfc(() => {
    pending = true;
    wake?.();
  });
  const unsubscribeStatus = api.subscribe(() => wake?.());
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    yield current();
    for (;;) {
      while (!pending && !signal.aborted && !ENDED.has(api.status().status)) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
      if (signal.aborted) throw signal.reason;
      if (!pending) return; // the compute ended
      pending = false;
      yield current();
    }
  } finally {
    unsubscribeLfc();
    unsubscribeStatus();
    signal.removeEventListener("abort", onAbort);
  }
}
