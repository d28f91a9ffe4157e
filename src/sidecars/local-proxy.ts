// spec.local_proxy_config for local_proxy (Neon's JWT-authenticating proxy beside Postgres):
// written as <dir>/config.json, where local_proxy reads it, then local_proxy is told by SIGHUP
// to re-read it, if its pid file <dir>/pid is locked (it is running). Not running: it reads the
// file when it starts. The file is replaced atomically, so local_proxy never reads half of it.
import { renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { LocalProxySpec } from "../spec/types.js";
import { readPidFile } from "./pid-file.js";

/** The JSON Neon writes: `jwks` and `tls` only when set; each provider with all five fields. */
export function localProxyConfigJson(spec: LocalProxySpec): string {
  const out: Record<string, unknown> = {};
  if (spec.jwks != null)
    out.jwks = spec.jwks.map((j) => ({
      id: j.id,
      role_names: j.role_names,
      jwks_url: j.jwks_url,
      provider_name: j.provider_name,
      jwt_audience: j.jwt_audience ?? null,
    }));
  if (spec.tls != null) out.tls = { key_path: spec.tls.key_path, cert_path: spec.tls.cert_path };
  return JSON.stringify(out, null, 2);
}

export interface LocalProxyOutcome {
  file: string;
  /** The pid that got SIGHUP, or null when local_proxy is not running. */
  notified: number | null;
}

export function configureLocalProxy(spec: LocalProxySpec, dir: string): LocalProxyOutcome {
  const file = path.join(dir, "config.json");
  const tmp = path.join(dir, `.config.json.${process.pid}.tmp`);
  writeFileSync(tmp, localProxyConfigJson(spec), { mode: 0o644 });
  renameSync(tmp, file);
  const pid = readPidFile(path.join(dir, "pid"));
  if (pid.state === "locked" && pid.pid !== null) {
    process.kill(pid.pid, "SIGHUP");
    return { file, notified: pid.pid };
  }
  return { file, notified: null };
}
