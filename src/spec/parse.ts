// Parses and validates ComputeSpec / ComputeConfig JSON before anything is touched.
// Structural checks come from the valibot schemas; cross-field rules (mode x source, Neon
// storage fields) are checked here so every rejection names the JSON path at fault.
import * as v from "valibot";
import {
  ComputeConfigSchema,
  ComputeCtlConfigSchema,
  ComputeSpecSchema,
  ConfigurationRequestSchema,
} from "./schema.js";
import { impliedSourceKind, settingValue } from "./source-kind.js";
import { SpecError } from "./spec-error.js";
import { checkSpecRules, type SpecAgentContext } from "./spec-rules.js";
import type { ComputeCtlConfig, ComputeMode, ComputeSpec, ComputeSpecJson, DataSource } from "./types.js";
import { checkWarmFields } from "./warm-fields.js";

export type { SpecAgentContext } from "./spec-rules.js";

export interface ParsedConfig {
  spec: ComputeSpec | null;
  computeCtlConfig: ComputeCtlConfig;
}

function issuePath(issue: v.BaseIssue<unknown>, prefix: string): string {
  let path = prefix;
  for (const item of issue.path ?? []) {
    const key = (item as { key: unknown }).key;
    path += typeof key === "number" ? `[${key}]` : `.${String(key)}`;
  }
  return path;
}

function describeIssue(issue: v.BaseIssue<unknown>): string {
  if (issue.kind === "schema" && issue.expected && issue.received) {
    if (issue.received === "undefined") return `required field is missing (expected ${issue.expected})`;
    return `expected ${issue.expected}, got ${issue.received}`;
  }
  return issue.message;
}

function check<S extends v.GenericSchema>(schema: S, input: unknown, prefix: string): v.InferOutput<S> {
  const result = v.safeParse(schema, input, { abortEarly: false });
  if (result.success) return result.output;
  // Report the deepest issue: unions report their own summary, nested ones are more precise.
  const issue = result.issues[0];
  throw new SpecError(issuePath(issue, prefix), describeIssue(issue), "shape");
}

function resolveMode(json: ComputeSpecJson): ComputeMode {
  if (json.mode === "Primary") return { kind: "primary" };
  if (json.mode === "Replica") return { kind: "replica" };
  return { kind: "static", lsn: json.mode.Static.toUpperCase() };
}

function resolveSource(json: ComputeSpecJson): DataSource {
  const src = json.source;
  if (src == null) return { kind: impliedSourceKind(json) };
  if (src.kind === "primary")
    return { kind: "primary", connstring: src.connstring, slotName: src.slot_name ?? null };
  if (src.kind === "archive") return { kind: "archive", archive: src, target: null };
  return { kind: src.kind };
}

/**
 * The archive source's recovery target: mode {"Static": LSN} recovers to that LSN; `target` may
 * restate it, or name a time instead (then the Static LSN must be 0/0, so that nothing is ignored
 * silently). Primary and Replica replay everything and take no target.
 */
function archiveTarget(
  source: Extract<DataSource, { kind: "archive" }>,
  mode: ComputeMode,
  prefix: string,
): DataSource {
  const given = source.archive.target ?? null;
  const src = `${prefix}.source`;
  if (mode.kind !== "static") {
    if (given)
      throw new SpecError(
        `${src}.target`,
        `a recovery target needs mode {"Static": ...}; a ${mode.kind} replays the whole archive`,
      );
    if (mode.kind === "primary" && source.archive.primary_conninfo != null)
      throw new SpecError(`${src}.primary_conninfo`, "primary_conninfo is for mode Replica only");
    return source;
  }
  if (source.archive.primary_conninfo != null)
    throw new SpecError(`${src}.primary_conninfo`, "primary_conninfo is for mode Replica only");
  if (given && "time" in given) {
    if (mode.lsn !== "0/0")
      throw new SpecError(
        `${prefix}.mode`,
        `target.time is given, so the Static LSN must be "0/0" (got ${mode.lsn}); give one or the other`,
      );
    return { ...source, target: { kind: "time", time: new Date(given.time).toISOString() } };
  }
  if (given && given.lsn.toUpperCase() !== mode.lsn)
    throw new SpecError(
      `${src}.target.lsn`,
      `target.lsn ${given.lsn} differs from the Static LSN ${mode.lsn}`,
    );
  if (mode.lsn === "0/0") throw new SpecError(`${prefix}.mode`, "the Static LSN 0/0 needs a target.time");
  return { ...source, target: { kind: "lsn", lsn: mode.lsn } };
}

function checkNeonFields(json: ComputeSpecJson, mode: ComputeMode, prefix: string): void {
  const settings = json.cluster.settings;
  // Neon parses the ids of the settings fallback as it parses the fields (400 when not hex).
  for (const id of ["tenant_id", "timeline_id"] as const) {
    const fromSettings = json[id] ? null : settingValue(settings, `neon.${id}`);
    if (fromSettings !== null && !/^[0-9a-fA-F]{32}$/.test(fromSettings))
      throw new SpecError(`${prefix}.cluster.settings`, `neon.${id} must be 32 hexadecimal digits`);
  }
  if (!json.tenant_id && !settingValue(settings, "neon.tenant_id")) {
    throw new SpecError(`${prefix}.tenant_id`, "tenant id should be provided for the neon source");
  }
  if (!json.timeline_id && !settingValue(settings, "neon.timeline_id")) {
    throw new SpecError(`${prefix}.timeline_id`, "timeline id should be provided for the neon source");
  }
  if (impliedSourceKind(json) !== "neon") {
    throw new SpecError(
      `${prefix}.pageserver_connstring`,
      "pageserver connection information should be provided",
    );
  }
  if (json.pageserver_connection_info) {
    const info = json.pageserver_connection_info;
    const shards = Math.max(1, info.shard_count);
    for (let n = 0; n < shards; n++) {
      const key = n.toString(16).padStart(2, "0") + info.shard_count.toString(16).padStart(2, "0");
      if (!info.shards[key]) {
        throw new SpecError(`${prefix}.pageserver_connection_info.shards`, `shard ${key} is missing`);
      }
    }
  }
  if (mode.kind === "primary") {
    const sks = json.safekeeper_connstrings.length
      ? json.safekeeper_connstrings
      : (settingValue(settings, "neon.safekeepers")?.split(",").filter(Boolean) ?? []);
    if (sks.length === 0)
      throw new SpecError(`${prefix}.safekeeper_connstrings`, "safekeeper_connstrings is empty");
    const seen = new Set<string>();
    for (const sk of sks) {
      if (seen.has(sk))
        throw new SpecError(
          `${prefix}.safekeeper_connstrings`,
          `duplicate entry in safekeeper_connstrings: ${sk}!`,
        );
      seen.add(sk);
    }
  }
}

/** Cross-field rules: which modes make sense with which data source. */
function checkCombination(
  json: ComputeSpecJson,
  mode: ComputeMode,
  source: DataSource,
  prefix: string,
): void {
  if (source.kind === "initdb" && mode.kind !== "primary") {
    throw new SpecError(
      `${prefix}.mode`,
      `mode ${mode.kind} needs data from somewhere: the initdb source makes a new empty cluster; ` +
        `use source {"kind":"primary","connstring":...} for a replica or the neon source for a static compute`,
    );
  }
  if (source.kind === "primary" && mode.kind === "static") {
    throw new SpecError(
      `${prefix}.mode`,
      "mode Static needs a source that can serve a past LSN; a fresh base backup of a vanilla primary " +
        "is consistent only at the moment it is taken, so use the neon or the archive source for static computes",
    );
  }
  if (source.kind === "neon") checkNeonFields(json, mode, prefix);
}

/**
 * A spec, checked in full before anything is touched: its shape (schema.ts), the rules in
 * spec-rules.ts (with `agent`, also what deleting would break the agent) and the cross-field
 * rules of mode and source.
 */
export function parseSpec(input: unknown, prefix = "$", agent?: SpecAgentContext): ComputeSpec {
  const json = check(ComputeSpecSchema, input, prefix);
  checkSpecRules(json, prefix, agent);
  const mode = resolveMode(json);
  let source = resolveSource(json);
  checkCombination(json, mode, source, prefix);
  checkWarmFields(json, prefix);
  if (source.kind === "archive") source = archiveTarget(source, mode, prefix);
  return Object.freeze({ json, mode, source });
}

function specFromWrapper(
  output: { spec: unknown },
  raw: unknown,
  agent: SpecAgentContext | undefined,
): ComputeSpec | null {
  if (output.spec == null) return null;
  return parseSpec((raw as { spec: unknown }).spec, "$.spec", agent);
}

/** `{"spec": ComputeSpec|null, "compute_ctl_config": {...}}` from `--config` or the control plane. */
export function parseComputeConfig(input: unknown, agent?: SpecAgentContext): ParsedConfig {
  const out = check(ComputeConfigSchema, input, "$");
  return { spec: specFromWrapper(out, input, agent), computeCtlConfig: out.compute_ctl_config };
}

/** Body of `POST /configure`: the spec is required. */
export function parseConfigurationRequest(input: unknown, agent?: SpecAgentContext): ParsedConfig {
  const out = check(ConfigurationRequestSchema, input, "$");
  return { spec: specFromWrapper(out, input, agent), computeCtlConfig: out.compute_ctl_config };
}

export function parseComputeCtlConfig(input: unknown): ComputeCtlConfig {
  return check(ComputeCtlConfigSchema, input, "$.compute_ctl_config");
}
