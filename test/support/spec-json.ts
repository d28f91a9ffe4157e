// A validated ComputeSpec JSON for tests and benchmarks: the real parser fills in the defaults,
// so tests only write the parts they care about.
import { parseSpec } from "../../src/spec/parse.js";
import type { ComputeSpecJson } from "../../src/spec/types.js";

export function specJson(
  cluster: { roles: unknown[]; databases: unknown[]; [k: string]: unknown },
  extra: Record<string, unknown> = {},
): ComputeSpecJson {
  return parseSpec({ format_version: 1, suspend_timeout_seconds: -1, cluster, ...extra }).json;
}
