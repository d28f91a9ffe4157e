// A data source whose implementation is imported on first use, so the modules of sources a
// compute does not use (execa, tar, pg-copy-streams) stay out of the agent's start.
import type { DataSourceStep } from "./data-source.js";

export function lazySource(name: string, load: () => Promise<DataSourceStep>): () => DataSourceStep {
  return () => {
    let loaded: Promise<DataSourceStep> | undefined;
    const get = () => {
      loaded ??= load();
      return loaded;
    };
    return {
      name,
      prepare: async (ctx) => (await get()).prepare(ctx),
      afterShutdown: async (ctx) => {
        const source = await get();
        return source.afterShutdown ? source.afterShutdown(ctx) : null;
      },
    };
  };
}
