// Who may call what, for every API listener that checks (REST external and internal, gRPC over
// TCP; the gRPC Unix socket trusts its callers): decided from the headers and the peer before a
// body is read.
// - With JWT keys: a token on every endpoint marked `auth` (REST control-plane routes, every RPC);
//   an endpoint that changes the compute (`mutating`) without `auth` (the internal REST routes)
//   needs one from any peer but a loopback one.
// - Without keys: anyone may call what does not change the compute; what does is served to
//   loopback peers only (403 with how to configure keys), and on an mTLS listener to every
//   certified peer, unless --insecure-no-auth.
import { OperationError } from "../../errors/operation-error.js";
import { CONFIGURE_KEYS_HINT, isLoopback } from "../listener/peer-address.js";

/** Checks tokens against the launch-time keys (src/api/auth/authorizer.ts implements it). */
export interface Authorizer {
  /**
   * Checks an `Authorization` header value. Rejects with an OperationError: `invalid_argument`
   * for a missing or non-Bearer header, `unauthenticated` for a token that does not verify,
   * `permission_denied` for a token of another compute.
   */
  verify(authorization: string | undefined): Promise<void>;
  /** True when this header's token passed `verify` recently: a hot path skips `verify` then. */
  remembered(authorization: string | undefined): boolean;
}

export interface AccessPolicyOptions {
  /** null: no keys configured, no token checks. */
  authorizer: Authorizer | null;
  /** --insecure-no-auth: without keys, remote callers may change the compute too. */
  insecureNoAuth?: boolean;
  /**
   * mTLS listener: every peer holds a certificate the client CA signed, which without keys
   * counts as the loopback rule (docs/security.md).
   */
  certifiedPeers?: boolean;
}

export interface Endpoint {
  /** How the refusal names it: `POST /configure`, `/compute.v1.ComputeService/Terminate`. */
  readonly name: string;
  /** With keys, every caller needs a token. */
  readonly auth: boolean;
  /** Changes the compute (see above). */
  readonly mutating: boolean;
}

/**
 * null: the call may proceed (synchronously: the common, cheap case); a promise: once it
 * resolves (a token is being verified; it rejects with the refusal). A refusal without a token
 * check is thrown.
 */
export type Admission = Promise<void> | null;

export type AccessPolicy = (
  endpoint: Endpoint,
  authorization: string | undefined,
  /** The peer's address, asked for only when it matters (a mutating call without a token rule). */
  peer: () => string | undefined,
) => Admission;

export function createAccessPolicy(opts: AccessPolicyOptions): AccessPolicy {
  const { authorizer } = opts;
  const token = (authorization: string | undefined): Admission =>
    authorizer === null || authorizer.remembered(authorization) ? null : authorizer.verify(authorization);
  return (endpoint, authorization, peer) => {
    if (endpoint.auth && authorizer) return token(authorization);
    if (!endpoint.mutating) return null;
    if (!authorizer && (opts.insecureNoAuth || opts.certifiedPeers)) return null;
    const address = peer();
    if (isLoopback(address)) return null;
    if (authorizer) return token(authorization);
    throw new OperationError(
      "permission_denied",
      `${endpoint.name} from ${address ?? "an unknown address"}: ${CONFIGURE_KEYS_HINT}`,
    );
  };
}
