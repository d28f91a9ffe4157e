// The postgresql.conf lines a Neon compute needs from its storage, in the order and spelling
// Neon's compute_ctl writes them (the "Neon storage settings" block, then the compute mode).
// They go in after the spec's postgresql_conf and before cluster.settings, so settings can
// override them, as in Neon.
import { quoteConfValue } from "../../postgres/quote.js";
import type { ComputeSpec } from "../../spec/types.js";
import { connectionInfoShardUrls } from "./neon-storage.js";

function pageserverLines(spec: ComputeSpec): string[] {
  const json = spec.json;
  const info = json.pageserver_connection_info;
  if (info) {
    const lines: string[] = [];
    if (info.stripe_size != null) lines.push(`neon.stripe_size=${info.stripe_size}`);
    const urls = connectionInfoShardUrls(info);
    if (urls.some((u) => u == null)) lines.push("# no neon.pageserver_connstring");
    else lines.push(`neon.pageserver_connstring=${quoteConfValue(urls.join(","))}`);
    return lines;
  }
  const lines: string[] = [];
  if (json.shard_stripe_size != null) lines.push(`neon.stripe_size=${json.shard_stripe_size}`);
  if (json.pageserver_connstring != null) {
    lines.push(`neon.pageserver_connstring=${quoteConfValue(json.pageserver_connstring)}`);
  }
  return lines;
}

function identityLines(spec: ComputeSpec): string[] {
  const json = spec.json;
  const ids: [string, string | null | undefined][] = [
    ["neon.tenant_id", json.tenant_id],
    ["neon.timeline_id", json.timeline_id],
    ["neon.project_id", json.project_id],
    ["neon.branch_id", json.branch_id],
    ["neon.endpoint_id", json.endpoint_id],
  ];
  return ids.filter(([, v]) => v != null).map(([k, v]) => `${k}=${quoteConfValue(v as string)}`);
}

function modeLines(spec: ComputeSpec): string[] {
  const mode = spec.mode;
  if (mode.kind === "static") {
    return ["neon.compute_mode=static", "hot_standby=on", `recovery_target_lsn=${quoteConfValue(mode.lsn)}`];
  }
  if (mode.kind === "replica") return ["neon.compute_mode=replica", "hot_standby=on"];
  return ["neon.compute_mode=primary"];
}

/** Neon's storage block and compute-mode lines for postgresql.conf. */
export function neonConfLines(spec: ComputeSpec): string[] {
  const json = spec.json;
  const lines = ["# Neon storage settings", "", ...pageserverLines(spec)];
  if (json.safekeeper_connstrings.length > 0) {
    const generation = json.safekeepers_generation != null ? `g#${json.safekeepers_generation}:` : "";
    lines.push(`neon.safekeepers=${quoteConfValue(generation + json.safekeeper_connstrings.join(","))}`);
  }
  lines.push(...identityLines(spec), ...modeLines(spec));
  return lines;
}
