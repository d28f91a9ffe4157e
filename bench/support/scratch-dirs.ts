// Where benchmarks put their clusters: scratch directories on tmpfs (as the tests do), which the
// Postgres OS user can traverse, and the template a cached start published.
import { chownSync, mkdtempSync, readdirSync } from "node:fs";
import path from "node:path";
import { pgOsUser } from "./floor-cluster.js";

/** A new directory `<parent>/<prefix>XXXXXX`, owned by the Postgres OS user when we are root. */
export function benchRoot(prefix: string, parent = "/dev/shm"): string {
  const root = mkdtempSync(path.join(parent, prefix));
  if (pgOsUser) chownSync(root, pgOsUser.uid, pgOsUser.gid);
  return root;
}

/** The data directory of the single template published in `cacheDir`. */
export function templateDataDir(cacheDir: string): string {
  const dirs = readdirSync(cacheDir).filter((n) => n.startsWith("initdb-"));
  if (dirs.length !== 1) throw new Error(`expected one template in ${cacheDir}, found [${dirs.join(", ")}]`);
  return path.join(cacheDir, dirs[0], "data");
}
