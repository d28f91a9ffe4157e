// A private copy of the system's Postgres 15 installation for tests that write into the share
// and lib directories (remote extensions): `postgres` and `initdb` are copied (Postgres finds its
// share/lib directories relative to its own real path, so a symlinked binary would use the
// system's), everything else is a symlink, and the named extensions' files are left out. The
// system installation is never written to.
import { copyFileSync, mkdirSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import path from "node:path";
import { pgBinaries, tempDir } from "./postgres.js";

export interface ShadowPostgres {
  root: string;
  bindir: string;
  postgres: string;
  sharedir: string;
  pkglibdir: string;
  remove(): void;
}

export function shadowPostgres(opts: { without: string[]; withPgConfig?: boolean }): ShadowPostgres {
  const sysBin = pgBinaries.bindir; // /usr/lib/postgresql/<major>/bin
  const major = path.basename(path.dirname(sysBin));
  const sysLib = path.join(path.dirname(sysBin), "lib");
  const sysShare = path.join("/usr/share/postgresql", major);
  const root = tempDir("ccsh-");
  const bindir = path.join(root, "usr/lib/postgresql", major, "bin");
  const pkglibdir = path.join(root, "usr/lib/postgresql", major, "lib");
  const sharedir = path.join(root, "usr/share/postgresql", major);
  for (const d of [bindir, pkglibdir, path.join(sharedir, "extension")])
    mkdirSync(d, { recursive: true, mode: 0o755 });
  for (const tool of ["postgres", "initdb", ...(opts.withPgConfig ? ["pg_config"] : [])])
    copyFileSync(path.join(sysBin, tool), path.join(bindir, tool));
  const skipped = (name: string) =>
    opts.without.some(
      (ext) => name === `${ext}.so` || name === `${ext}.control` || name.startsWith(`${ext}--`),
    );
  for (const name of readdirSync(sysLib))
    if (!skipped(name)) symlinkSync(path.join(sysLib, name), path.join(pkglibdir, name));
  for (const name of readdirSync(sysShare)) {
    if (name !== "extension") symlinkSync(path.join(sysShare, name), path.join(sharedir, name));
  }
  for (const name of readdirSync(path.join(sysShare, "extension"))) {
    if (!skipped(name))
      symlinkSync(path.join(sysShare, "extension", name), path.join(sharedir, "extension", name));
  }
  return {
    root,
    bindir,
    postgres: path.join(bindir, "postgres"),
    sharedir,
    pkglibdir,
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** The system installation's files of an extension (control, SQL scripts, library). */
export function systemExtensionFiles(ext: string): { share: string[]; lib: string[] } {
  const sysBin = pgBinaries.bindir;
  const major = path.basename(path.dirname(sysBin));
  const shareExt = path.join("/usr/share/postgresql", major, "extension");
  const lib = path.join(path.dirname(sysBin), "lib");
  return {
    share: readdirSync(shareExt)
      .filter((n) => n === `${ext}.control` || n.startsWith(`${ext}--`))
      .map((n) => path.join(shareExt, n)),
    lib: [path.join(lib, `${ext}.so`)],
  };
}
