// Server interceptors shared by every method: core errors to status codes. (Tokens are checked
// before connect-node reads a body: call-gate.ts.)
import type { Interceptor } from "@connectrpc/connect";
import { toConnectError } from "./error-codes.js";

async function* translateStreamErrors<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    throw toConnectError(err);
  }
}

/** Handlers throw core errors (OperationError, SpecError); clients get proper codes. */
export const translateErrors: Interceptor = (next) => async (req) => {
  try {
    const res = await next(req);
    return res.stream ? { ...res, message: translateStreamErrors(res.message) } : res;
  } catch (err) {
    throw toConnectError(err);
  }
};
