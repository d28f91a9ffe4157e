// Lets the data source finish once Postgres accepts connections and before the spec is applied:
// the archive source replays the archive to its end and promotes (or waits for a static
// compute's target), or creates a new stanza. Only in plans whose source has the hook.

import type { StartupContext } from "../startup-context.js";
import { sourceContext } from "./fetch-data.js";
import type { Step } from "./step.js";

export const sourceReadyStep: Step<StartupContext> = {
  name: "source_ready",
  metric: "source_ready_ms",
  async run(ctx) {
    if (!ctx.postmaster) throw new Error("source_ready runs after start_postgres");
    await ctx.source.afterStart?.(sourceContext(ctx), ctx.postmaster);
  },
};
