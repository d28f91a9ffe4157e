// Where the launch config comes from: a spec file, a config file, or the control plane
// (GET {uri}/compute/api/v2/computes/{id}/spec, 3 tries on network errors/502/503, fail fast
// otherwise). Parse errors name the JSON path; nothing is touched before this succeeds.
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import * as load from "../loading/modules.js";
import type { ParsedConfig, SpecAgentContext } from "../spec/parse.js";
import { SpecError } from "../spec/spec-error.js";

export class ConfigSourceError extends Error {
  override readonly name = "ConfigSourceError";
}

async function readJsonFile(file: string, flag: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigSourceError(`cannot read ${flag} ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigSourceError(`${flag} ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

export interface ControlPlaneOptions {
  uri: string;
  computeId: string;
  token: string | undefined;
  log: Logger;
  onAttempt?: (httpStatus: string) => void;
  retryDelayMs?: number;
  /** Checks that need the agent's flags (what a spec may not delete). */
  agent?: SpecAgentContext;
}

export async function fetchFromControlPlane(opts: ControlPlaneOptions): Promise<ParsedConfig> {
  const url = `${opts.uri.replace(/\/+$/, "")}/compute/api/v2/computes/${encodeURIComponent(opts.computeId)}/spec`;
  let lastError = "";
  for (let attempt = 1; attempt <= 3; attempt++) {
    if (attempt > 1) await new Promise((r) => setTimeout(r, opts.retryDelayMs ?? 100));
    let res: Response;
    try {
      res = await fetch(url, {
        headers: { authorization: `Bearer ${opts.token ?? ""}`, accept: "application/json" },
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      opts.onAttempt?.("unknown");
      lastError = `network error: ${(err as Error).message}`;
      opts.log.warn({ attempt, url }, `control plane request failed: ${lastError}`);
      continue;
    }
    opts.onAttempt?.(`${res.status} ${res.statusText}`.trim());
    const body = await res.text();
    if (res.status === 502 || res.status === 503) {
      lastError = `HTTP ${res.status}`;
      opts.log.warn({ attempt, url, status: res.status }, "control plane unavailable, retrying");
      continue;
    }
    if (!res.ok) {
      throw new ConfigSourceError(
        `control plane answered HTTP ${res.status} for ${url}: ${body.slice(0, 500)}`,
      );
    }
    let json: { status?: string; spec?: unknown; compute_ctl_config?: unknown };
    try {
      json = JSON.parse(body);
    } catch {
      lastError = "undecodable body";
      continue;
    }
    if (json.status === "attached" && json.spec == null) {
      throw new ConfigSourceError("control plane says the compute is attached but sent no spec");
    }
    const { parseComputeConfig } = await load.specParser();
    return parseComputeConfig(
      { spec: json.spec ?? null, compute_ctl_config: json.compute_ctl_config },
      opts.agent,
    );
  }
  throw new ConfigSourceError(`control plane config fetch failed after 3 attempts: ${lastError}`);
}

export async function loadLaunchConfig(
  opts: {
    specPath: string | null;
    configPath: string | null;
    controlPlaneUri: string | null;
    computeId: string | null;
  },
  log: Logger,
  onAttempt?: (httpStatus: string) => void,
  agent?: SpecAgentContext,
): Promise<ParsedConfig> {
  // valibot and the schemas load only when there is something to parse.
  const parser = () => load.specParser();
  try {
    if (opts.specPath) {
      const [{ parseSpec }, json] = await Promise.all([parser(), readJsonFile(opts.specPath, "--spec")]);
      return { spec: parseSpec(json, "$", agent), computeCtlConfig: {} };
    }
    if (opts.configPath) {
      const [{ parseComputeConfig }, json] = await Promise.all([
        parser(),
        readJsonFile(opts.configPath, "--config"),
      ]);
      return parseComputeConfig(json, agent);
    }
    if (opts.controlPlaneUri && opts.computeId) {
      return await fetchFromControlPlane({
        uri: opts.controlPlaneUri,
        computeId: opts.computeId,
        token: process.env.NEON_CONTROL_PLANE_TOKEN,
        log,
        onAttempt,
        agent,
      });
    }
  } catch (err) {
    if (err instanceof SpecError) throw new ConfigSourceError(err.message);
    throw err;
  }
  return { spec: null, computeCtlConfig: {} };
}
