// The docs cannot drift from the code unnoticed: the state diagram in docs/architecture.md is
// the transition table of src/state/status.ts, docs/operations.md covers every flag of
// --help, docs/api.md has a curl example for every REST route, a grpcurl and a buf curl
// example for every RPC, a TypeScript example for every operation, and its TypeScript
// examples type-check against the real packages and generated code.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ComputeService } from "../gen/compute/v1/compute_service_pb.js";
import { externalRoutes, internalRoutes } from "../src/api/rest/route-table.js";
import { HELP } from "../src/cli/args.js";
import { COMPUTE_STATUSES, canTransition } from "../src/state/status.js";
import { REPO } from "./support/agent.js";

const read = (f: string) => readFileSync(path.join(REPO, f), "utf8");

/** Fenced code blocks of a language, shell continuation lines joined. */
function blocks(markdown: string, lang: string): string[] {
  return [...markdown.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, "g"))].map((m) =>
    m[1].replace(/\\\n\s*/g, " "),
  );
}

test("the state diagram in docs/architecture.md is the transition table", () => {
  const [mermaid] = blocks(read("docs/architecture.md"), "mermaid");
  assert.ok(mermaid, "a mermaid block");
  const drawn = new Set(
    [...mermaid.matchAll(/^\s*(\w+)\s*-->\s*(\w+)\s*$/gm)]
      .filter((m) => COMPUTE_STATUSES.includes(m[1] as never) && COMPUTE_STATUSES.includes(m[2] as never))
      .map((m) => `${m[1]} -> ${m[2]}`),
  );
  const allowed = new Set(
    COMPUTE_STATUSES.flatMap((from) =>
      COMPUTE_STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from} -> ${to}`),
    ),
  );
  assert.deepEqual([...drawn].sort(), [...allowed].sort());
  for (const s of COMPUTE_STATUSES) assert.ok(mermaid.includes(s), `${s} in the diagram`);
});

test("docs/operations.md documents every flag and environment variable of --help", () => {
  const ops = read("docs/operations.md");
  const flags = new Set([...HELP.matchAll(/(?<![\w-])--[a-z][a-z-]+/g)].map((m) => m[0]));
  assert.ok(flags.size > 25);
  for (const flag of flags) assert.ok(ops.includes(`\`${flag}`), `${flag} documented`);
  const env = /Environment: (.*)/.exec(HELP)?.[1] ?? "";
  for (const v of env.match(/[A-Z][A-Z_]+/g) ?? []) assert.ok(ops.includes(`\`${v}\``), `${v} documented`);
});

const api = read("docs/api.md");
const shell = blocks(api, "sh").flatMap((b) => b.split("\n"));
const ts = blocks(api, "ts");
const routes = [
  ...externalRoutes().map((r) => ({ ...r, port: 3080 })),
  ...internalRoutes().map((r) => ({ ...r, port: 3081 })),
];

test("docs/api.md: a curl and a TypeScript example for every REST route", () => {
  for (const r of routes) {
    // A `{name}` path parameter matches any concrete value in the example.
    const url = `localhost:${r.port}${r.path}`.replaceAll(".", "\\.").replace(/\{\w+\}/, "[^\\s?'\"]+");
    const curl = shell.find((l) => l.includes("curl") && new RegExp(`${url}(?![\\w.])`).test(l));
    assert.ok(curl, `curl example for ${r.method} ${r.path}`);
    if (r.method === "POST") assert.match(curl, /-X POST|-d /, `${r.path} is POSTed`);
    const p = r.path.split("{")[0];
    assert.ok(
      ts.some(
        (b) => b.includes(`"${p}`) || b.includes(`/${p.slice(1)}?`) || (p !== r.path && b.includes(`}${p}`)),
      ),
      `TypeScript example for ${r.path}`,
    );
  }
});

test("docs/api.md: grpcurl, buf curl and TypeScript examples for every RPC", () => {
  for (const m of ComputeService.methods) {
    const target = `compute.v1.ComputeService/${m.name}`;
    assert.ok(
      shell.some((l) => l.includes("grpcurl") && l.includes(target)),
      `grpcurl ${m.name}`,
    );
    assert.ok(
      shell.some((l) => l.includes("buf curl") && l.includes(target)),
      `buf curl ${m.name}`,
    );
    assert.ok(
      ts.some((b) => new RegExp(`\\.${m.localName}\\(`).test(b)),
      `TypeScript ${m.localName}()`,
    );
  }
});

test("docs/api.md: the TypeScript examples type-check", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cct-docs-"));
  try {
    symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
    writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
    ts.forEach((code, i) => {
      const fixed = code.replaceAll('"./gen/', `"${path.join(REPO, "gen")}/`);
      writeFileSync(path.join(dir, `example-${i}.ts`), `${fixed}\nexport {};\n`);
    });
    writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({
        extends: path.join(REPO, "tsconfig.json"),
        compilerOptions: { noUnusedLocals: false, rootDir: "/" },
        include: ["*.ts"],
      }),
    );
    const tsc = spawnSync(process.execPath, [path.join(REPO, "node_modules/typescript/bin/tsc"), "-p", dir], {
      encoding: "utf8",
    });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
