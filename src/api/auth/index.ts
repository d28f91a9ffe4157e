// JWT authorization for the external APIs (REST and gRPC over TCP).

export { type Authorizer, type AuthorizerOptions, authEnabled, createAuthorizer } from "./authorizer.js";
export { ADMIN_SCOPE, COMPUTE_AUDIENCE } from "./claims.js";
