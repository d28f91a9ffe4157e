// The protobuf-first API (compute.v1.ComputeService over Connect, gRPC and gRPC-Web).

export { type GrpcServer, type GrpcServerOptions, startGrpcServer } from "./server.js";
export { configureBody, specToJson } from "./spec-to-json.js";
