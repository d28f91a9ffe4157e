// JWT authorization for the external APIs (REST and gRPC over TCP). Loaded only when keys exist
// (jose); the access rule itself is access-policy.ts, which the servers import directly.

export type { Authorizer } from "./access-policy.js";
export { type AuthorizerOptions, createAuthorizer } from "./authorizer.js";
export { ADMIN_SCOPE, COMPUTE_AUDIENCE } from "./claims.js";
