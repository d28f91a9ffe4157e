// Which extensions are installed where, for compute_installed_extensions{extension_name, version,
// owned_by_superuser} = number of databases (Neon's installed_extensions.rs): every database
// that accepts connections and is valid (at most 500) is asked for its pg_extension rows.
// `owned_by_superuser` is "1" when the bootstrap superuser (oid 10) owns the extension.
import type { ConnectionTarget } from "../postgres/connection.js";
import { withConnection } from "../postgres/connection.js";

export interface InstalledExtension {
  extname: string;
  version: string;
  ownedBySuperuser: boolean;
  /** Databases it is installed in at this version and ownership. */
  databases: number;
}

const APP = "compute_ctl:get_installed_extensions";

export async function collectInstalledExtensions(target: ConnectionTarget): Promise<InstalledExtension[]> {
  const databases = await withConnection(target, { applicationName: APP }, async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      `SELECT datname FROM pg_catalog.pg_database
        WHERE datallowconn AND datconnlimit <> -2 ORDER BY datname LIMIT 500`,
    );
    return rows.map((r) => r.datname);
  });
  const found = new Map<string, InstalledExtension>();
  for (const database of databases) {
    let rows: { extname: string; extversion: string; superuser: boolean }[];
    try {
      rows = await withConnection(
        target,
        { applicationName: APP, database },
        async (c) =>
          (
            await c.query<{ extname: string; extversion: string; superuser: boolean }>(
              "SELECT extname, extversion, extowner = 10 AS superuser FROM pg_catalog.pg_extension",
            )
          ).rows,
      );
    } catch (err) {
      // Dropped since it was listed: not an error of the collection.
      if ((err as { code?: string }).code === "3D000") continue;
      throw err;
    }
    for (const r of rows) {
      const key = `${r.extname}\n${r.extversion}\n${r.superuser}`;
      const seen = found.get(key);
      if (seen) seen.databases++;
      else
        found.set(key, {
          extname: r.extname,
          version: r.extversion,
          ownedBySuperuser: r.superuser,
          databases: 1,
        });
    }
  }
  return [...found.values()];
}

/**
 * The collection period: the spec's suspend_timeout_seconds when it is positive (as Neon), else
 * --installed-extensions-collection-interval.
 */
export function collectionIntervalS(suspendTimeoutS: number | undefined, flagS: number): number {
  return suspendTimeoutS !== undefined && suspendTimeoutS > 0 ? suspendTimeoutS : flagS;
}
