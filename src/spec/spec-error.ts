// A spec that cannot be accepted. `path` is the JSON path of the offending value
// ("$.cluster.roles[2].name"). Which check refused it decides the kind, because Neon answers them
// differently: `shape` is what its JSON deserializer rejects (a missing field, a wrong type, an
// unknown enum value: unprocessable, 422), `rule` what its spec validation rejects afterwards
// (duplicate safekeepers, a missing tenant id: invalid_argument, 400). Thrown as is up to the API
// edge: gRPC turns the path into a SpecViolation detail.
import { OperationError } from "../errors/operation-error.js";

export type SpecCheck = "shape" | "rule";

export class SpecError extends OperationError {
  override readonly name = "SpecError";
  constructor(
    readonly path: string,
    readonly problem: string,
    check: SpecCheck = "rule",
  ) {
    super(check === "shape" ? "unprocessable" : "invalid_argument", `invalid spec at ${path}: ${problem}`);
  }
}
