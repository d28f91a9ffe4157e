// The exporter compiled into one JavaScript file (esbuild, everything bundled), for tests whose
// timing must reflect a deployed exporter: under tsx the process needs seconds to start on a
// busy machine, the compiled one a fraction of that. Built once per test process.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

let built: Promise<string> | null = null;

export function bundledExporterEntry(): Promise<string> {
  built ??= (async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "cct-exp-build-"));
    chmodSync(dir, 0o755); // the exporter runs as the Postgres OS user
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    const outfile = path.join(dir, "exporter.mjs");
    await build({
      entryPoints: [fileURLToPath(new URL("../../src/exporter/main.ts", import.meta.url))],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile,
      // Bundled CommonJS dependencies (pg, pino) call require: give the ESM bundle one.
      banner: {
        js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
      },
      logLevel: "error",
    });
    return outfile;
  })();
  return built;
}
