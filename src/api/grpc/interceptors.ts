// Server interceptors shared by every method: core errors to status codes, and JWT checks on TCP.
import type { Interceptor } from "@connectrpc/connect";
import { authErrorToConnect, toConnectError } from "./error-codes.js";

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

/** Every call (reflection too: grpcurl sends its `-H` headers there as well) needs a valid token. */
export function requireAuthorization(authorizer: {
  verify(authorization: string | undefined): Promise<void>;
}): Interceptor {
  return (next) => async (req) => {
    try {
      await authorizer.verify(req.header.get("authorization") ?? undefined);
    } catch (err) {
      throw authErrorToConnect(err);
    }
    return next(req);
  };
}
