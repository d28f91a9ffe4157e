// drop_subscriptions_before_start: a branch (a copy of a subscriber) must not run its parent's
// subscriptions, or it competes with the parent for the parent's replication. They are dropped
// before Postgres accepts users, and before any subscription worker can start:
// - vanilla Postgres has no switch to hold the workers back that a reload can undo, so for the
//   sources that copy an existing cluster a private Postgres runs first on the new data
//   directory, with max_logical_replication_workers=0 (no worker at all), no TCP listener and
//   its socket in a private directory; the subscriptions are dropped there and it stops;
// - with the neon source, Neon's Postgres has neon.disable_logical_replication_subscribers,
//   set in the temporary override file until the spec apply has dropped them, as Neon does.
// Only a primary drops them, only when catalog updates are on, once per branch (the key).
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import * as load from "../../loading/modules.js";
import { parseConnstr } from "../../postgres/connection.js";
import { Postmaster } from "../../postgres/postmaster.js";
import type { ComputeSpec } from "../../spec/types.js";
import type { StartupStep } from "../startup-context.js";

/** Whether this start drops subscriptions. */
export function dropsSubscriptionsAtStart(spec: ComputeSpec): boolean {
  const json = spec.json;
  return (
    json.drop_subscriptions_before_start && spec.mode.kind === "primary" && !json.skip_pg_catalog_updates
  );
}

/** Which way: a private Postgres first (a copied vanilla cluster) or during the apply (neon). */
export function subscriptionDropWay(spec: ComputeSpec): "private_postgres" | "apply" | "none" {
  if (!dropsSubscriptionsAtStart(spec)) return "none";
  // A fresh initdb has no subscriptions.
  if (spec.source.kind === "initdb") return "none";
  return spec.source.kind === "neon" ? "apply" : "private_postgres";
}

/** The -C URL pointed at a socket directory (user, password and database kept). */
function privateConnstr(connstr: string, socketDir: string): string {
  const c = parseConnstr(connstr);
  const user = encodeURIComponent(c.user);
  const pw = c.password === undefined ? "" : `:${encodeURIComponent(c.password)}`;
  const params = new URLSearchParams({ host: socketDir, port: String(c.port) });
  return `postgresql://${user}${pw}@/${encodeURIComponent(c.database)}?${params}`;
}

export const dropSubscriptionsStep: StartupStep = {
  name: "drop_subscriptions",
  metric: "drop_subscriptions_ms",
  async run(ctx) {
    const socketDir = mkdtempSync(path.join(os.tmpdir(), "ccsub-"));
    if (ctx.osUser) chownSync(socketDir, ctx.osUser.uid, ctx.osUser.gid);
    const log = ctx.log.child({ step: "drop_subscriptions" });
    let pm: Postmaster | null = null;
    try {
      pm = await Postmaster.start({
        pg: ctx.pg,
        pgdata: ctx.options.pgdata,
        osUser: ctx.osUser,
        log,
        shutdownRungS: ctx.options.shutdownEscalationS,
        readyTimeoutMs: ctx.options.pgReadyTimeoutS * 1000,
        args: [
          "-c",
          "max_logical_replication_workers=0",
          "-c",
          "listen_addresses=",
          "-c",
          `unix_socket_directories=${socketDir}`,
          // A synchronous standby of the parent cannot confirm the branch's commits.
          "-c",
          "synchronous_standby_names=",
        ],
      });
      const { dropSubscriptionsNow } = await load.dropSubscriptionsNow();
      const { dropSubscriptionsKey } = await load.subscriptionDrops();
      await dropSubscriptionsNow(
        { connstr: privateConnstr(ctx.options.connstr, socketDir) },
        dropSubscriptionsKey(ctx.spec.json),
        log,
      );
    } finally {
      if (pm) {
        const { exit, rung } = await pm.shutdown("fast");
        if (rung !== "fast" || exit?.code !== 0)
          log.warn({ exit }, "the private Postgres did not stop cleanly");
      }
      rmSync(socketDir, { recursive: true, force: true });
    }
  },
};
