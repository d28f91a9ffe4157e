// A spec that cannot be turned into SQL, found before anything is executed; names the field.
export class PlanError extends Error {
  override readonly name = "PlanError";
  constructor(
    /** JSON path of the offending field, e.g. `cluster.roles[3].options`, or null. */
    readonly path: string | null,
    message: string,
  ) {
    super(path === null ? message : `${path}: ${message}`);
  }
}
