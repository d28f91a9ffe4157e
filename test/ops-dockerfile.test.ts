// What can be checked of the container without a Docker engine: the Dockerfile parses into the
// stages we expect, every COPY source exists and survives .dockerignore (or is produced by the
// build stage), the code bundled into the image imports production dependencies only, and the
// image's /app layout, rebuilt from the COPY lines with a clean bundle and without any
// node_modules, runs the entrypoint and serves its API.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { builtinModules } from "node:module";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { parseCli } from "../src/cli/args.js";
import { REPO } from "./support/agent.js";
import { freePort } from "./support/ports.js";

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  image: string;
  name: string | null;
  instructions: Instruction[];
}

/** Dockerfile -> stages (line continuations joined, comments dropped, ${ARG}s of the global scope substituted). */
function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const logical: { text: string; line: number }[] = [];
  let current: { text: string; line: number } | null = null;
  text.split("\n").forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith("#") || (trimmed === "" && !current)) return;
    const continues = trimmed.endsWith("\\");
    const part = continues ? trimmed.slice(0, -1) : trimmed;
    current = current ? { text: `${current.text} ${part}`, line: current.line } : { text: part, line: i + 1 };
    if (!continues) {
      logical.push(current);
      current = null;
    }
  });
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const { text: l, line } of logical) {
    const m = /^(\w+)\s+(.*)$/.exec(l);
    assert.ok(m, `Dockerfile line ${line}: ${l}`);
    const keyword = m[1].toUpperCase();
    const rest = m[2].trim();
    if (keyword === "ARG" && stages.length === 0) {
      const [k, v = ""] = rest.split("=");
      args[k] = v;
    } else if (keyword === "FROM") {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      assert.ok(f, `FROM at line ${line}`);
      const image = f[1].replace(/\$\{(\w+)\}/g, (_, k: string) => args[k] ?? "");
      stages.push({ image, name: f[2] ?? null, instructions: [] });
    } else {
      assert.ok(stages.length > 0, `instruction before FROM at line ${line}`);
      stages[stages.length - 1].instructions.push({ keyword, args: rest, line });
    }
  }
  return { args, stages };
}

interface Copy {
  from: string | null;
  sources: string[];
  dest: string;
  line: number;
}

function copies(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.keyword === "COPY")
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length) ?? null;
      const paths = words.filter((w) => !w.startsWith("--"));
      return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1], line: i.line };
    });
}

/** The absolute WORKDIR in effect before instruction `line` of a stage. */
function workdirAt(stage: Stage, line: number): string {
  let dir = "/";
  for (const i of stage.instructions) {
    if (i.line >= line) break;
    if (i.keyword === "WORKDIR") dir = path.posix.resolve(dir, i.args);
  }
  return dir;
}

/** .dockerignore, the subset we use: plain paths (a directory excludes everything in it) and `*` globs. */
function dockerignored(patterns: string[], file: string): boolean {
  return patterns.some((p) => {
    assert.doesNotMatch(p, /[?[\]!]|\*\*/, `unsupported .dockerignore pattern ${p}`);
    const re = new RegExp(
      `^${p
        .split("*")
        .map((s) => s.replace(/[.+^${}()|\\]/g, "\\$&"))
        .join("[^/]*")}(/.*)?$`,
    );
    return re.test(file);
  });
}

const dockerfile = parseDockerfile(readFileSync(path.join(REPO, "Dockerfile"), "utf8"));
const ignore = readFileSync(path.join(REPO, ".dockerignore"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));
const build = dockerfile.stages.find((s) => s.name === "build");
const runtime = dockerfile.stages[dockerfile.stages.length - 1];
/** What bin/build-bundle.mjs bundles (the entry points' source trees). */
const BUNDLED = ["src", "gen"];

const staging = mkdtempSync(path.join(os.tmpdir(), "cct-image-"));
after(() => rmSync(staging, { recursive: true, force: true }));

test("two stages on Node 20 bookworm; the runtime has Debian's PostgreSQL 15 and runs as postgres", () => {
  assert.ok(build, "a stage named build");
  assert.match(build.image, /^node:20-bookworm-slim$/);
  assert.match(runtime.image, /^node:20-bookworm-slim$/);
  const run = (s: Stage) =>
    s.instructions
      .filter((i) => i.keyword === "RUN")
      .map((i) => i.args)
      .join("\n");
  assert.match(run(build), /npm ci\b/);
  assert.match(run(build), /npm run build/);
  assert.match(run(runtime), /apt-get install[^\n]*postgresql-15/);
  assert.match(run(runtime), /postgresql-contrib/);
  assert.match(run(runtime), /create_main_cluster = false/, "no stray cluster from the package's postinst");
  // The bundle carries its dependencies: no npm in the runtime stage.
  assert.doesNotMatch(run(runtime), /npm (ci|install)/);
  const last = (k: string) => runtime.instructions.filter((i) => i.keyword === k).at(-1)?.args;
  assert.equal(last("USER"), "postgres");
  assert.deepEqual(JSON.parse(last("ENTRYPOINT") ?? "null"), ["/app/bin/compute_ctl"]);
  const exposed = (last("EXPOSE") ?? "").split(/\s+/).map(Number);
  const defaults = parseCli(["-D", "/d", "-C", "postgresql://postgres@127.0.0.1/postgres"]);
  assert.equal(defaults.kind, "run");
  if (defaults.kind !== "run") return;
  const o = defaults.options;
  const vmMonitorPort = Number(o.vmMonitorAddr.split(":").at(-1));
  assert.deepEqual(exposed, [o.externalHttpPort, o.internalHttpPort, o.grpcPort, vmMonitorPort]);
  const health = last("HEALTHCHECK") ?? "";
  assert.ok(health.includes(`127.0.0.1:${o.externalHttpPort}/healthz`), health);
  // The postgres binary the image points the agent at is the one the package installs.
  assert.match(
    runtime.instructions.map((i) => i.args).join("\n"),
    /POSTGRES_PATH=\/usr\/lib\/postgresql\/15\/bin\/postgres/,
  );
});

test("every COPY source exists in the repo and is not excluded by .dockerignore", () => {
  for (const stage of dockerfile.stages) {
    for (const c of copies(stage)) {
      if (c.from !== null) continue;
      for (const src of c.sources) {
        assert.ok(existsSync(path.join(REPO, src)), `COPY ${src} (line ${c.line}) exists`);
        assert.equal(
          dockerignored(ignore, src),
          false,
          `COPY ${src} (line ${c.line}) is in the build context`,
        );
      }
    }
  }
  // The build stage has everything the bundler reads.
  const copied = copies(build as Stage).flatMap((c) => c.sources);
  for (const needed of ["package.json", "package-lock.json", "bin/build-bundle.mjs", ...BUNDLED]) {
    assert.ok(copied.includes(needed), `build stage copies ${needed}`);
  }
});

test("COPY --from=build takes what the build stage produces", () => {
  for (const c of copies(runtime).filter((x) => x.from !== null)) {
    assert.equal(c.from, "build");
    for (const src of c.sources) {
      const built = path.posix.join(workdirAt(build as Stage, Number.POSITIVE_INFINITY), "dist");
      assert.equal(src, built, `COPY --from=build ${src} is the bundle`);
    }
  }
});

test("every package the bundled code imports is a production dependency", () => {
  const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8"));
  const prod = new Set(Object.keys(pkg.dependencies));
  const builtins = new Set(builtinModules);
  const seen = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(".js") || p.endsWith(".ts")) {
        const text = readFileSync(p, "utf8");
        for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)["']([^"'.][^"']*)["']/gm)) {
          if (m[1].startsWith("node:") || builtins.has(m[1])) continue;
          const name = m[1].startsWith("@") ? m[1].split("/").slice(0, 2).join("/") : m[1].split("/")[0];
          seen.add(`${name} (${path.relative(REPO, p)})`);
          assert.ok(
            prod.has(name),
            `${path.relative(REPO, p)} imports ${name}, which is not in dependencies`,
          );
        }
      }
    }
  };
  // The sources that are bundled into the image (not the tests).
  for (const dir of BUNDLED) walk(path.join(REPO, dir));
  assert.ok(seen.size > 5, "imports were found");
  assert.ok(prod.has("pino-pretty"));
});

test("the image layout, rebuilt from the COPY lines with a clean bundle and no node_modules, runs and serves", async () => {
  const outDir = path.join(staging, "build-out");
  execFileSync(process.execPath, [path.join(REPO, "bin/build-bundle.mjs"), "--outdir", outDir], {
    cwd: REPO,
  });
  assert.ok(existsSync(path.join(outDir, "cli/main.js")), "the bundle has dist/cli/main.js");
  assert.ok(existsSync(path.join(outDir, "exporter/main.js")), "the bundle has dist/exporter/main.js");

  const root = path.join(staging, "rootfs");
  for (const c of copies(runtime)) {
    const dest = path.posix.resolve(workdirAt(runtime, c.line), c.dest);
    for (const src of c.sources) {
      const from = c.from === null ? path.join(REPO, src) : outDir;
      const to =
        c.dest.endsWith("/") || c.sources.length > 1
          ? path.join(root, dest, path.basename(src))
          : path.join(root, dest);
      mkdirSync(path.dirname(to), { recursive: true });
      cpSync(from, to, { recursive: true });
    }
  }
  const app = path.join(root, "app");
  assert.equal(existsSync(path.join(app, "node_modules")), false, "the image has no node_modules");
  const entry = path.join(app, "bin/compute_ctl");
  const help = execFileSync(entry, ["--help"], { encoding: "utf8" });
  assert.match(help, /^compute_ctl - control agent/);
  assert.match(help, /--external-http-port/);
  const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8"));
  assert.equal(execFileSync(entry, ["--version"], { encoding: "utf8" }).trim(), `compute_ctl ${pkg.version}`);

  // The agent itself runs from the layout: an empty compute serves /status and finds
  // docs/openapi.yaml for GET /openapi.json (pretty logs load pino-pretty from the bundle).
  const [port, internal, grpc] = [await freePort(), await freePort(), await freePort()];
  const sockDir = mkdtempSync(path.join(os.tmpdir(), "cct-image-sock-"));
  const agent = spawn(
    entry,
    [
      ...["-D", path.join(staging, "pgdata"), "-C", "postgresql://postgres@127.0.0.1:1/postgres"],
      ...["--http-host", "127.0.0.1", "--external-http-port", String(port)],
      ...["--internal-http-port", String(internal), "--grpc-port", String(grpc)],
      ...["--grpc-socket", path.join(sockDir, "g.sock"), "--log-format", "pretty", "--exit-grace-s", "0"],
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  agent.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((r) => agent.once("exit", (code) => r(code)));
  try {
    const status = await waitForHttp(`http://127.0.0.1:${port}/status`);
    assert.equal(((await status.json()) as { status: string }).status, "empty");
    const spec = await fetch(`http://127.0.0.1:${port}/openapi.json`);
    assert.equal(spec.status, 200);
    assert.match(((await spec.json()) as { openapi: string }).openapi, /^3\./);
  } finally {
    agent.kill("SIGTERM");
    assert.equal(await exited, 0, stderr);
    rmSync(sockDir, { recursive: true, force: true });
  }
  assert.match(stderr, /INFO.*HTTP server listening/, "pretty log lines");
});

async function waitForHttp(url: string): Promise<Response> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await fetch(url);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
