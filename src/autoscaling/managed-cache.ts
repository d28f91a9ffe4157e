// What the vm-monitor resizes on up/downscale, chosen once per agent connection:
// - Neon's LFC (`neon.file_cache_size_limit`) when the neon extension's GUC exists;
// - on vanilla Postgres, `effective_cache_size`: the one reloadable setting that describes a cache.
//   The OS page cache plays the LFC's role and follows the VM's memory by itself; telling the
//   planner about it is what a resize can honestly do. shared_buffers needs a restart, and
//   work_mem/maintenance_work_mem are per-operation allocations whose safe size depends on
//   concurrency, which a memory-size signal alone cannot judge;
// - nothing, with the reason, when resizing is disabled or the setting cannot be changed.
import type { Logger } from "pino";
import { capabilitiesOf, SERVER_VERSION_NUM_SQL } from "../postgres/capabilities.js";
import type { MonitorPgSession } from "./monitor-pg-session.js";
import { NeonFileCache } from "./neon-file-cache.js";
import { PlannerCacheSize } from "./planner-cache-size.js";

export interface ManagedCache {
  /** The setting that is changed, for logs and status texts. */
  readonly setting: string;
  /** Sizes the cache for `totalBytes` of usable memory; returns the status text for the agent. */
  resize(totalBytes: number): Promise<string>;
}

export type CacheChoice = { cache: ManagedCache; reason?: undefined } | { cache: null; reason: string };

interface SettingRow {
  name: string;
  vartype: string;
  source: string;
  sourcefile: string | null;
  can_alter: boolean;
}

export const LFC_SETTING = "neon.file_cache_size_limit";
export const PLANNER_SETTING = "effective_cache_size";

/** Decides what to manage by looking at pg_settings over `session`. */
export async function chooseManagedCache(session: MonitorPgSession, log: Logger): Promise<CacheChoice> {
  const [{ v }] = await session.read<{ v: number }>(SERVER_VERSION_NUM_SQL);
  // Before 15 only superusers may ALTER SYSTEM; from 15 on it is a grantable privilege.
  const canAlter = capabilitiesOf(Number(v)).parameterPrivileges
    ? "pg_catalog.has_parameter_privilege(name, 'ALTER SYSTEM')"
    : "(SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)";
  const rows = await session.read<SettingRow>(
    `SELECT name, vartype, source, sourcefile, ${canAlter} AS can_alter
       FROM pg_catalog.pg_settings WHERE name IN ('${LFC_SETTING}', '${PLANNER_SETTING}')`,
  );
  // A custom placeholder (SET neon.x without the extension) is a string; the real GUC is an integer.
  const lfc = rows.find((r) => r.name === LFC_SETTING && r.vartype === "integer");
  if (lfc) {
    if (!lfc.can_alter)
      return { cache: null, reason: `the agent's role may not ALTER SYSTEM SET ${LFC_SETTING}` };
    return { cache: new NeonFileCache(session, log) };
  }
  const planner = rows.find((r) => r.name === PLANNER_SETTING);
  if (!planner) return { cache: null, reason: `${PLANNER_SETTING} does not exist` };
  // ALTER SYSTEM writes postgresql.auto.conf, which loses to these sources.
  if (planner.source === "command line" || planner.source === "override") {
    return {
      cache: null,
      reason: `${PLANNER_SETTING} is fixed on the postgres command line, which ALTER SYSTEM cannot override`,
    };
  }
  // An explicit value from postgresql.conf (the compute spec) is the operator's choice; keep it.
  if (
    planner.source === "configuration file" &&
    planner.sourcefile &&
    !planner.sourcefile.endsWith("postgresql.auto.conf")
  ) {
    return {
      cache: null,
      reason: `${PLANNER_SETTING} is set explicitly in ${planner.sourcefile}; leaving it alone`,
    };
  }
  if (!planner.can_alter)
    return { cache: null, reason: `the agent's role may not ALTER SYSTEM SET ${PLANNER_SETTING}` };
  return { cache: new PlannerCacheSize(session, log) };
}
