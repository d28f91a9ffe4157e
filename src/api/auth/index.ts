// JWT authorization for the external APIs (REST and gRPC over TCP).
export { ADMIN_SCOPE, COMPUTE_AUDIENCE } from "./claims.js";
export { type Authorizer, type AuthorizerOptions, authEnabled, createAuthorizer } from "./authorizer.js";
