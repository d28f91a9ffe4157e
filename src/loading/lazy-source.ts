// A data source whose implementation is imported on first use, so the modules of sources a
// compute does not use (execa, tar, pg-copy-streams) stay out of the agent's start. `hooks`
// names the optional hooks the loaded source implements (the plan asks for them before loading).
import type { SourceDriver } from "../startup/sources/source-driver.js";

export interface LazyHooks {
  readonly beforeShutdown?: boolean;
  readonly afterStart?: boolean;
  readonly whileRunning?: boolean;
  readonly status?: boolean;
  readonly release?: boolean;
}

export function lazySource(
  name: string,
  load: () => Promise<SourceDriver>,
  hooks: LazyHooks = {},
): () => SourceDriver {
  return () => {
    let loaded: Promise<SourceDriver> | undefined;
    let ready: SourceDriver | undefined;
    const get = () => {
      loaded ??= load().then((s) => {
        ready = s;
        return s;
      });
      return loaded;
    };
    const step: SourceDriver = {
      name,
      prepare: async (ctx) => (await get()).prepare(ctx),
      afterShutdown: async (ctx) => {
        const source = await get();
        return source.afterShutdown ? source.afterShutdown(ctx) : null;
      },
    };
    if (hooks.afterStart) step.afterStart = async (ctx, pm) => (await get()).afterStart?.(ctx, pm);
    if (hooks.whileRunning)
      step.whileRunning = async (ctx, s) => (await get()).whileRunning?.(ctx, s) ?? null;
    // Only a source that ran has something to report or release.
    if (hooks.status) step.status = () => ready?.status?.() ?? null;
    if (hooks.beforeShutdown) step.beforeShutdown = async (ctx) => ready?.beforeShutdown?.(ctx);
    if (hooks.release) step.release = async (ctx) => ready?.release?.(ctx);
    return step;
  };
}
