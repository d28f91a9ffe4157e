// Lets the data source finish once Postgres accepts connections and before the spec is applied:
// the archive source replays the archive to its end and promotes (or waits for a static
// compute's target), or creates a new stanza. Only in plans whose source has the hook.

import type { StartupStep } from "../startup-context.js";
import { sourceContext } from "./fetch-data.js";

export const sourceReadyStep: StartupStep = {
  name: "source_ready",
  metric: "source_ready_ms",
  async run(ctx, { postmaster }) {
    if (!postmaster) throw new Error("source_ready runs after start_postgres");
    await ctx.source.afterStart?.(sourceContext(ctx), postmaster);
  },
};
