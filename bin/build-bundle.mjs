#!/usr/bin/env node
// Builds what bin/compute_ctl runs: the agent and the exporter bundled by esbuild into dist/
// (dist/cli/main.js, dist/exporter/main.js and shared lazy chunks in dist/chunks/), and
// bin/endpoint-storage's server (dist/endpoint-storage/main.js).
//
// Why a bundle and not tsc's one-file-per-module output: Node spends most of a cold agent start
// resolving and compiling hundreds of small ES modules (tsc output plus node_modules). One file
// per entry with the lazy parts (gRPC, pg, data sources, reconciliation) split into chunks loaded
// on first use shortens the agent's start (docs/benchmarks.md, "Agent start"). Type checking stays
// with `tsc --noEmit` (npm run check).
import { rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";

// pino loads thread-stream (and with it worker_threads) for its transports, which the agent never
// uses: pretty printing runs in-process (src/log/logger.ts). The stub keeps that code and a Node
// built-in out of every start, and fails loudly if a transport is ever configured.
const noPinoTransports = {
  name: "no-pino-transports",
  setup(b) {
    b.onResolve({ filter: /^thread-stream$/ }, () => ({ path: "thread-stream", namespace: "stub" }));
    b.onLoad({ filter: /.*/, namespace: "stub" }, () => ({
      contents:
        "module.exports = class ThreadStream { constructor() { throw new Error('pino transports are not bundled with compute_ctl'); } };",
      loader: "js",
    }));
  },
};

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// --outdir: somewhere else than dist/ (the Dockerfile test rebuilds the image layout with it).
const { values } = parseArgs({ options: { outdir: { type: "string" } } });
const outdir = path.resolve(values.outdir ?? path.join(repo, "dist"));

rmSync(outdir, { recursive: true, force: true });
const common = {
  absWorkingDir: repo,
  outbase: "src",
  outdir,
  entryNames: "[dir]/[name]",
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // pg's optional native binding is never installed; pg falls back to its JS client.
  external: ["pg-native"],
  // CommonJS dependencies call require() for Node built-ins and read __dirname: give every
  // output file the CommonJS names, resolved from its own location.
  banner: {
    js: [
      'import { createRequire as __ccRequire } from "node:module";',
      'import { fileURLToPath as __ccPath } from "node:url";',
      "const require = __ccRequire(import.meta.url);",
      "const __filename = __ccPath(import.meta.url);",
      'const __dirname = __filename.slice(0, __filename.lastIndexOf("/"));',
    ].join(" "),
  },
  legalComments: "none",
  plugins: [noPinoTransports],
  logLevel: "warning",
};
// Separate builds, so that no process loads chunks cut for another's sake.
await Promise.all([
  build({ ...common, entryPoints: ["src/cli/main.ts"] }),
  build({ ...common, entryPoints: ["src/exporter/main.ts"], chunkNames: "chunks/exporter/[name]-[hash]" }),
  build({
    ...common,
    entryPoints: ["src/endpoint-storage/main.ts"],
    chunkNames: "chunks/endpoint-storage/[name]-[hash]",
  }),
]);
