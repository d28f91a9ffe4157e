// WatchStatus as an async iterable: the state when called, then every change in order, ending
// after a terminal status; when `signal` aborts it throws the abort reason. The subscription is released in every case.
import { Code, ConnectError } from "@connectrpc/connect";
import { type ComputeState, ComputeStatus } from "../../../gen/compute/v1/status_pb.js";
import { progressView } from "../../state/progress.js";
import type { StateSnapshot } from "../../state/state-machine.js";
import type { ComputeApi } from "../compute-api.js";
import { computeStateToProto } from "./state-to-proto.js";

const TERMINAL = new Set([ComputeStatus.TERMINATED, ComputeStatus.FAILED]);
// Status changes are rare; a backlog this long means the client stopped reading.
const MAX_BACKLOG = 1024;

function stateAt(api: ComputeApi, snapshot: StateSnapshot): ComputeState {
  const { progress: _current, ...view } = api.status();
  return computeStateToProto(
    {
      ...view,
      status: snapshot.status,
      error: snapshot.error,
      start_time: snapshot.startTime.toISOString(),
      ...(snapshot.progress ? { progress: progressView(snapshot.progress) } : {}),
    },
    api.timings(),
  );
}

export async function* watchStates(api: ComputeApi, signal: AbortSignal): AsyncGenerator<ComputeState> {
  const backlog: ComputeState[] = [];
  let failure: unknown;
  let wake: (() => void) | undefined;
  // Listeners run inside the core's transition(); they must never throw into it. Progress
  // changes of a long task are states too (at most every 250 ms, see state-machine.ts).
  const unsubscribe = api.subscribe(
    (snapshot) => {
      try {
        if (backlog.length >= MAX_BACKLOG) {
          failure ??= new ConnectError("client reads status changes too slowly", Code.ResourceExhausted);
        } else {
          backlog.push(stateAt(api, snapshot));
        }
      } catch (err) {
        failure ??= err;
      }
      wake?.();
    },
    { progress: true },
  );
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    // Subscribed in the same tick, so no change can fall between this state and the backlog.
    let state = computeStateToProto(api.status(), api.timings());
    yield state;
    while (!TERMINAL.has(state.status)) {
      while (backlog.length === 0 && failure === undefined && !signal.aborted) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
      // Cancelled, past its deadline, or the server is shutting down (UNAVAILABLE: reconnect).
      if (signal.aborted) throw signal.reason;
      if (failure !== undefined) throw failure;
      state = backlog.shift() as ComputeState;
      yield state;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
  }
}
