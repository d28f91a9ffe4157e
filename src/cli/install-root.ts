// Locates files shipped beside the agent's code (package.json, docs/openapi.yaml) the same way
// whether the agent runs from src/ (tsx) or from the bundle's dist/chunks/ (also in the
// container, where /app holds dist/, docs/ and package.json): walk up from this module to the
// first directory that has package.json.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

let root: string | null = null;

export function installRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, "package.json"))) {
      root = dir;
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** Absolute path of a file shipped with the agent, e.g. `docs/openapi.yaml`. */
export function installedFile(relative: string): string {
  return path.join(installRoot(), relative);
}

let version: string | null = null;

/** The agent's version from its package.json ("unknown" if unreadable). */
export function agentVersion(): string {
  if (version) return version;
  try {
    version = String(JSON.parse(readFileSync(installedFile("package.json"), "utf8")).version);
  } catch {
    version = "unknown";
  }
  return version;
}
