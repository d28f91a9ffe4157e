// A spec that cannot be accepted. `path` is the JSON path of the offending value ("$.cluster.roles[2].name").
// `kind` says which check refused it, because Neon answers them differently: `shape` is what its
// JSON deserializer rejects (a missing field, a wrong type, an unknown enum value: 422), `rule`
// what its spec validation rejects afterwards (duplicate safekeepers, a missing tenant id: 400).
export type SpecErrorKind = "shape" | "rule";

export class SpecError extends Error {
  override readonly name = "SpecError";
  constructor(
    readonly path: string,
    readonly problem: string,
    readonly kind: SpecErrorKind = "rule",
  ) {
    super(`invalid spec at ${path}: ${problem}`);
  }
}
