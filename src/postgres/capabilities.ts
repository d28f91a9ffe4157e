// What differs between the PostgreSQL majors a compute runs (14, 15, 16, 17), decided in this
// one place from `server_version_num`. Everything that builds version-dependent SQL (the
// reconciler, the migrations, the exporter's metric sets) asks this table instead of comparing
// version numbers itself, so supporting a new major is one row here plus the matrix tests
// (test/majors-*.test.ts). docs/postgres-majors.md explains each row.

/** The majors compute-ctl is tested with, oldest first. */
export const SUPPORTED_MAJORS = [14, 15, 16, 17] as const;

export interface PgCapabilities {
  /** `server_version_num`, e.g. 170010. */
  readonly versionNum: number;
  /** e.g. 17. */
  readonly major: number;
  /** `CREATE DATABASE ... STRATEGY` (15+); before, every create copies files and checkpoints. */
  readonly createDatabaseStrategy: boolean;
  /**
   * Checkpoint counters live in `pg_stat_checkpointer` (`num_timed`, `num_requested`) from 17 on;
   * before, in `pg_stat_bgwriter` (`checkpoints_timed`, `checkpoints_req`).
   */
  readonly checkpointerView: boolean;
  /** `pg_ls_logicalsnapdir()` (15+); before, `pg_ls_dir` + `pg_stat_file`. */
  readonly lsLogicalSnapDir: boolean;
  /**
   * CREATEROLE reaches only roles the holder has ADMIN OPTION on (16+). Before, a CREATEROLE
   * role may alter, drop and grant every non-superuser role (docs/privileged-role.md).
   */
  readonly createroleNeedsAdminOption: boolean;
  /** The predefined role `pg_create_subscription` (16+); before, only superusers subscribe. */
  readonly pgCreateSubscription: boolean;
  /** `pg_export_snapshot()`/`pg_log_standby_snapshot()` may be granted (Neon migration 0010, 16+). */
  readonly snapshotFunctionGrants: boolean;
  /**
   * Privileges on parameters (`GRANT SET|ALTER SYSTEM ON PARAMETER`, `has_parameter_privilege`,
   * 15+); before, only superusers may ALTER SYSTEM.
   */
  readonly parameterPrivileges: boolean;
  /** `pg_stat_io` exists (16+). Not read by the metric sets: no counter they use moved there. */
  readonly pgStatIo: boolean;
}

export function capabilitiesOf(versionNum: number): PgCapabilities {
  if (!Number.isInteger(versionNum) || versionNum < 100000) {
    throw new Error(`unexpected server_version_num ${versionNum}: PostgreSQL 10 or later reports six digits`);
  }
  const major = Math.floor(versionNum / 10000);
  return {
    versionNum,
    major,
    createDatabaseStrategy: major >= 15,
    checkpointerView: major >= 17,
    lsLogicalSnapDir: major >= 15,
    createroleNeedsAdminOption: major >= 16,
    pgCreateSubscription: major >= 16,
    snapshotFunctionGrants: major >= 16,
    parameterPrivileges: major >= 15,
    pgStatIo: major >= 16,
  };
}

/** "14.23" from 140023; "9.6.24"-style numbers do not occur (PostgreSQL 10+). */
export function versionText(versionNum: number): string {
  return `${Math.floor(versionNum / 10000)}.${versionNum % 10000}`;
}

/** Whether the majors compute-ctl is tested with include this one. */
export function isSupportedMajor(major: number): boolean {
  return (SUPPORTED_MAJORS as readonly number[]).includes(major);
}

/** The query every version-aware reader runs once per session. */
export const SERVER_VERSION_NUM_SQL = "SELECT pg_catalog.current_setting('server_version_num')::int AS v";
