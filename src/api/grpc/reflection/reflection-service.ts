// gRPC server reflection (grpc.reflection.v1 and v1alpha), so grpcurl, buf curl and Postman can
// list, describe and call every method without our proto files. No maintained package serves
// reflection for connect-es, so it is answered here from the embedded descriptors.
import { create, type DescService, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import {
  file_grpc_reflection_v1_reflection,
  ServerReflection,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
} from "../../../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { DescriptorIndex } from "./descriptor-index.js";

const NOT_FOUND = 5; // grpc.Code NOT_FOUND, as reflection's ErrorResponse carries it
const INVALID_ARGUMENT = 3;

type Answer = MessageInitShape<typeof ServerReflectionResponseSchema>["messageResponse"];

function answer(index: DescriptorIndex, services: readonly string[], req: ServerReflectionRequest): Answer {
  const notFound = (what: string): Answer => ({
    case: "errorResponse",
    value: { errorCode: NOT_FOUND, errorMessage: `${what} not found` },
  });
  const files = (file: ReturnType<DescriptorIndex["fileByName"]>, what: string): Answer =>
    file
      ? {
          case: "fileDescriptorResponse",
          value: { fileDescriptorProto: index.serializedWithDependencies(file) },
        }
      : notFound(what);

  const r = req.messageRequest;
  switch (r.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: services.map((name) => ({ name })) } };
    case "fileByFilename":
      return files(index.fileByName(r.value), `file ${r.value}`);
    case "fileContainingSymbol":
      return files(index.fileContainingSymbol(r.value), `symbol ${r.value}`);
    case "fileContainingExtension":
      return files(
        index.fileContainingExtension(r.value.containingType, r.value.extensionNumber),
        `extension ${r.value.extensionNumber} of ${r.value.containingType}`,
      );
    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbersOf(r.value);
      return numbers
        ? { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: numbers } }
        : notFound(`type ${r.value}`);
    }
    default:
      return { case: "errorResponse", value: { errorCode: INVALID_ARGUMENT, errorMessage: "empty request" } };
  }
}

/** Routes serving reflection for `services` (and for the reflection services themselves). */
export function reflectionRoutes(services: readonly DescService[]): (router: ConnectRouter) => void {
  const index = new DescriptorIndex([
    ...services.map((s) => s.file),
    file_grpc_reflection_v1_reflection,
    v1alpha.file_grpc_reflection_v1alpha_reflection,
  ]);
  const names = [...services, ServerReflection, v1alpha.ServerReflection].map((s) => s.typeName);
  const respond = (req: ServerReflectionRequest): ServerReflectionResponse =>
    create(ServerReflectionResponseSchema, {
      validHost: req.host,
      originalRequest: req,
      messageResponse: answer(index, names, req),
    });

  return (router) => {
    router.service(ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) yield respond(req);
      },
    });
    // v1alpha is wire-identical to v1: convert through the binary form.
    router.service(v1alpha.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) {
          const asV1 = fromBinary(
            ServerReflection.method.serverReflectionInfo.input,
            toBinary(v1alpha.ServerReflectionRequestSchema, req),
          );
          yield fromBinary(
            v1alpha.ServerReflectionResponseSchema,
            toBinary(ServerReflectionResponseSchema, respond(asV1)),
          );
        }
      },
    });
  };
}
