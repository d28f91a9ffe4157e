// The one way a spec reaches a running Postgres: rewrite postgresql.conf and reload (SIGHUP),
// then reconcile the catalog (roles, databases, delta operations, grants) when the spec applies
// SQL. Called by the start (its apply_spec step: the file was written before Postgres started),
// by live reconfiguration and by promotion; whatever else must re-apply configuration later
// calls it too.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import type { AgentOptions } from "../cli/options.js";
import * as load from "../loading/modules.js";
import type { OsUser } from "../postgres/os-user.js";
import type { Postmaster } from "../postgres/postmaster.js";
import { TEMP_OVERRIDE_FILE } from "../spec/render-conf.js";
import type { ComputeSpec } from "../spec/types.js";
import { postgresqlConfPath, writePostgresqlConf } from "./postgresql-conf.js";

/**
 * The one skip rule: only a primary applies SQL, and not when skip_pg_catalog_updates is set
 * (replicas and static computes never change the catalog; neither do migrations run there).
 */
export function specAppliesSql(spec: ComputeSpec): boolean {
  return spec.mode.kind === "primary" && !spec.json.skip_pg_catalog_updates;
}

/** The running Postgres a spec is applied to. */
export interface RunningPostgres {
  readonly options: AgentOptions;
  readonly osUser: OsUser | null;
  readonly postmaster: Pick<Postmaster, "signal"> | null | undefined;
}

export interface ApplySpecOptions {
  /**
   * Rewrite postgresql.conf from the spec and reload. Absent at start, where write_config wrote
   * it before Postgres started.
   */
  readonly config?: {
    /** The data source's postgresql.conf lines (kept from the start). */
    readonly sourceLines: readonly string[];
    /** Postgres TLS is on (compute_ctl_config.tls with tls_experimental, certificates installed). */
    readonly ssl?: boolean;
    /** Runs after the write, before the reload; throws to refuse the new file. */
    readonly check?: () => Promise<void>;
    /** On failure put the previous file back (and reload it, if the new one was loaded). */
    readonly restoreOnFailure?: boolean;
  };
  /** Per-database parallelism of the reconciliation ("auto": a share of max_connections). */
  readonly concurrency: number | "auto";
  /** application_name of the reconciler's sessions (`compute_ctl:<operation>`). */
  readonly applicationName: string;
  /** drop_subscriptions_before_start in this apply, then let new subscriptions' workers run. */
  readonly dropSubscriptions?: boolean;
  readonly log: Logger;
}

export async function applySpecToPostgres(
  pg: RunningPostgres,
  spec: ComputeSpec,
  opts: ApplySpecOptions,
): Promise<void> {
  const confFile = postgresqlConfPath(pg.options);
  const previous = opts.config?.restoreOnFailure ? readFileSync(confFile, "utf8") : null;
  let reloaded = false;
  try {
    if (opts.config) {
      writePostgresqlConf(spec, pg.options, opts.config.sourceLines, pg.osUser, opts.config.ssl);
      await opts.config.check?.();
      pg.postmaster?.signal("SIGHUP");
      reloaded = true;
    }
    if (!specAppliesSql(spec)) return;
    // Loaded on first use (a start preloads it while Postgres starts).
    const [{ reconcileSpec }, drops] = await Promise.all([
      load.reconciler(),
      opts.dropSubscriptions ? load.subscriptionDrops() : null,
    ]);
    await reconcileSpec({
      target: { connstr: pg.options.connstr },
      spec: spec.json,
      privilegedRole: pg.options.privilegedRoleName,
      concurrency: opts.concurrency,
      log: opts.log,
      applicationName: opts.applicationName,
      dropSubscriptions: drops ? { key: drops.dropSubscriptionsKey(spec.json) } : undefined,
    });
    if (drops) {
      // The subscriptions are gone: let the workers of new ones run.
      writeFileSync(path.join(pg.options.pgdata, TEMP_OVERRIDE_FILE), "");
      pg.postmaster?.signal("SIGHUP");
    }
  } catch (err) {
    if (previous !== null) {
      // The file is ours (written above with the same owner and mode): put the old text back.
      writeFileSync(confFile, previous);
      if (reloaded) pg.postmaster?.signal("SIGHUP");
    }
    throw err;
  }
}
