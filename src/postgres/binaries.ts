// Locates the Postgres binaries: `postgres` from `--pgbin`, or on PATH, or the newest
// /usr/lib/postgresql/<major>/bin; initdb, pg_ctl and friends are found beside it.
import { accessSync, constants, readdirSync, realpathSync } from "node:fs";
import path from "node:path";

export interface PgBinaries {
  bindir: string;
  postgres: string;
  tool(name: string): string;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}

function newestDebianBin(root = "/usr/lib/postgresql"): string | null {
  let majors: number[] = [];
  try {
    majors = readdirSync(root)
      .map(Number)
      .filter((n) => Number.isInteger(n));
  } catch {
    return null;
  }
  majors.sort((a, b) => b - a);
  for (const m of majors) {
    const bin = path.join(root, String(m), "bin", "postgres");
    if (isExecutable(bin)) return bin;
  }
  return null;
}

export function resolvePgBinaries(pgbin: string | undefined): PgBinaries {
  const postgres = pgbin ?? onPath("postgres") ?? newestDebianBin();
  if (!postgres) throw new Error("cannot find the postgres binary: pass --pgbin /path/to/postgres");
  if (!isExecutable(postgres)) throw new Error(`--pgbin ${postgres} is not an executable file`);
  const real = realpathSync(postgres);
  const bindir = path.dirname(real);
  return { bindir, postgres: real, tool: (name) => path.join(bindir, name) };
}
