// The share and package-library directories of the Postgres binaries in use: where CREATE
// EXTENSION looks for control/SQL files and `$libdir` points. `pg_config` beside `postgres` is
// asked first; without it (npm-packaged or hand-copied binaries) the layout is probed from the
// bin directory the way Postgres itself relocates them: `<prefix>/share[/postgresql]` and
// `<prefix>/lib[/postgresql]`, or Debian's `/usr/share/postgresql/<major>` for
// `/usr/lib/postgresql/<major>/bin`. A candidate counts only if it holds plpgsql, which every
// installation has.
import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync, realpathSync } from "node:fs";
import path from "node:path";
import type { PgBinaries } from "../postgres/binaries.js";

export interface PgInstallDirs {
  sharedir: string;
  pkglibdir: string;
  /** How they were found: `pg_config` or `layout`. */
  via: "pg_config" | "layout";
}

const isShare = (dir: string) => existsSync(path.join(dir, "extension", "plpgsql.control"));
const isPkglib = (dir: string) =>
  existsSync(path.join(dir, "plpgsql.so")) || existsSync(path.join(dir, "plpgsql.dylib"));

function fromPgConfig(bindir: string): PgInstallDirs | null {
  const tool = path.join(bindir, "pg_config");
  try {
    accessSync(tool, constants.X_OK);
  } catch {
    return null;
  }
  try {
    const [sharedir, pkglibdir] = execFileSync(tool, ["--sharedir", "--pkglibdir"], {
      encoding: "utf8",
      timeout: 10_000,
    })
      .trim()
      .split("\n")
      .map((l) => l.trim());
    if (sharedir && pkglibdir && isShare(sharedir) && isPkglib(pkglibdir))
      return { sharedir, pkglibdir, via: "pg_config" };
  } catch {
    // a broken pg_config: fall back to the layout
  }
  return null;
}

function fromLayout(bindir: string): PgInstallDirs | null {
  const prefix = path.dirname(bindir);
  const shares = [path.join(prefix, "share", "postgresql"), path.join(prefix, "share")];
  const debian = /^(.*)\/lib\/postgresql\/(\d+)$/.exec(prefix);
  if (debian) shares.push(path.join(debian[1], "share", "postgresql", debian[2]));
  const libs = [path.join(prefix, "lib", "postgresql"), path.join(prefix, "lib")];
  const sharedir = shares.find(isShare);
  const pkglibdir = libs.find(isPkglib);
  return sharedir && pkglibdir ? { sharedir, pkglibdir, via: "layout" } : null;
}

export function findPgInstallDirs(pg: Pick<PgBinaries, "bindir">): PgInstallDirs {
  const found = fromPgConfig(pg.bindir) ?? fromLayout(pg.bindir);
  if (!found)
    throw new Error(
      `cannot find the Postgres share and lib directories of ${pg.bindir} (no pg_config, no share/extension/plpgsql.control beside it)`,
    );
  return { ...found, sharedir: realpathSync(found.sharedir), pkglibdir: realpathSync(found.pkglibdir) };
}
