// A spec that cannot be accepted. `path` is the JSON path of the offending value ("$.cluster.roles[2].name").
export class SpecError extends Error {
  override readonly name = "SpecError";
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`invalid spec at ${path}: ${problem}`);
  }
}
