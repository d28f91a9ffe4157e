// drop_subscriptions_before_start on a Postgres whose subscription workers cannot start (see
// startup/steps/drop-subscriptions.ts): unless the drop is recorded for this branch's key, every
// subscription of every database that takes connections is dropped without touching its
// publisher, and the drop is recorded. Statements from subscription-drops.ts.
import type { Logger } from "pino";
import { type ConnectionTarget, withConnection } from "../postgres/connection.js";
import {
  DROP_DONE_SQL,
  DROP_DONE_TABLE_EXISTS_SQL,
  recordDropStatements,
  subscriptionDropStatements,
} from "./subscription-drops.js";

const APP = "compute_ctl:drop_subscriptions";

export interface DroppedSubscriptions {
  /** Already recorded for this key: nothing was dropped. */
  alreadyDone: boolean;
  dropped: { database: string; subscription: string }[];
}

export async function dropSubscriptionsNow(
  target: ConnectionTarget,
  key: string | null,
  log: Logger,
): Promise<DroppedSubscriptions> {
  const listed = await withConnection(target, { applicationName: APP }, async (c) => {
    if (key !== null) {
      const exists = await c.query<{ t: boolean }>(`SELECT ${DROP_DONE_TABLE_EXISTS_SQL} AS t`);
      if (exists.rows[0].t && (await c.query<{ done: boolean }>(DROP_DONE_SQL, [key])).rows[0].done)
        return null;
    }
    const { rows } = await c.query<{ datname: string; subname: string }>(
      `SELECT d.datname, s.subname FROM pg_catalog.pg_subscription s
         JOIN pg_catalog.pg_database d ON d.oid = s.subdbid
        WHERE d.datallowconn AND d.datconnlimit <> -2 ORDER BY 1, 2`,
    );
    return rows;
  });
  if (listed === null) {
    log.info({ key }, "subscriptions were dropped on this branch before: nothing to drop");
    return { alreadyDone: true, dropped: [] };
  }
  const byDb = new Map<string, string[]>();
  for (const r of listed) byDb.set(r.datname, [...(byDb.get(r.datname) ?? []), r.subname]);
  const dropped: DroppedSubscriptions["dropped"] = [];
  for (const [database, subs] of byDb) {
    await withConnection(target, { applicationName: APP, database }, async (c) => {
      for (const s of subscriptionDropStatements(subs)) await c.query(s.sql);
    });
    for (const subscription of subs) dropped.push({ database, subscription });
  }
  if (key !== null) {
    await withConnection(target, { applicationName: APP }, async (c) => {
      for (const s of recordDropStatements(key)) await c.query(s.sql);
    });
  }
  log.info({ key, dropped }, `dropped ${dropped.length} subscription(s) before start`);
  return { alreadyDone: false, dropped };
}
