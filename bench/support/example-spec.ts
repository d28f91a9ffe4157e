// The spec the start benchmarks use: examples/spec.json, the one the README runs.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseSpec } from "../../src/spec/parse.js";
import type { ComputeSpec } from "../../src/spec/types.js";
import { REPO } from "../../test/support/agent.js";

export function exampleSpec(): ComputeSpec {
  return parseSpec(JSON.parse(readFileSync(path.join(REPO, "examples/spec.json"), "utf8")));
}
