// Answers a unary handler gives again, the very same object, while the state behind them does not
// change (Status: a control plane polls it, the compute changes a few times in its life). The
// fast path frames such an answer once and sends those bytes on every later call, instead of
// building and encoding the message each time (that was a third of a Status call's CPU). A
// marked answer must not be changed afterwards: a handler returns a new object for a new state.
const framed = new WeakMap<object, Buffer | null>();

/** Marks `answer` as given again unchanged; returns it. */
export function reusableAnswer<T extends object>(answer: T): T {
  if (!framed.has(answer)) framed.set(answer, null);
  return answer;
}

/** The framed bytes of `answer`: built by `frame` once for a marked answer, every time otherwise. */
export function framedAnswer(answer: object, frame: () => Buffer): Buffer {
  const known = framed.get(answer);
  if (known) return known;
  const bytes = frame();
  if (known === null) framed.set(answer, bytes);
  return bytes;
}
