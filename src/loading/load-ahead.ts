// What the agent loads ahead of need, decided in one place. Domain code only says what happened
// (an empty compute now waits for its spec; the start spawned Postgres and waits for it to be
// ready): those are moments the event loop would otherwise idle, and this module decides what
// to load in them so that nothing heavy is on the path to `running`. Loading earlier would cost:
// during the data copy the event loop is the bottleneck. Everything else loads on first use,
// through the loaders of modules.ts (the data sources: agent-sources.ts).
import type { ComputeSpec } from "../spec/types.js";
import * as load from "./modules.js";

export type AgentMoment =
  /** An empty compute's only job now is to wait for its spec. */
  | { readonly kind: "waiting_for_spec" }
  /** The start spawned Postgres and waits for it to accept connections. */
  | { readonly kind: "postgres_spawned"; readonly spec: ComputeSpec };

function preload(importing: () => Promise<unknown>): void {
  // A failure shows where the module is really used.
  importing().catch(() => {});
}

/** What the spec apply needs once Postgres runs: pg, and the reconciler for a primary. */
function applyModules(primary: boolean): void {
  preload(load.pg);
  if (primary) preload(load.reconciler);
}

export function loadAhead(moment: AgentMoment): void {
  switch (moment.kind) {
    case "waiting_for_spec":
      // Everything configuring it needs: the spec parser, execa (a template miss asks `postgres
      // --version`), pg and the reconciler.
      setImmediate(() => {
        preload(load.specParser);
        preload(load.execa);
        applyModules(true);
      });
      return;
    case "postgres_spawned":
      applyModules(moment.spec.mode.kind === "primary");
      return;
  }
}
