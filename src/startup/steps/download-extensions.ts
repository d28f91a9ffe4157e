// Start step `download_extensions` (Neon's `load_ext_ms`): with `-r` and spec.remote_extensions,
// writes the allowed extensions' control files and downloads the libraries named in
// shared_preload_libraries before Postgres starts (they must be there when it loads them).
import type { StartupStep } from "../startup-context.js";

export const remoteExtensionsStep: StartupStep = {
  name: "download_extensions",
  metric: "load_ext_ms",
  async run(ctx) {
    if (!ctx.remoteExtensions || !ctx.spec.json.remote_extensions) return;
    const r = await ctx.remoteExtensions.prepareStart(ctx.spec.json);
    ctx.record("num_ext_downloaded", r.downloaded);
    ctx.record("largest_ext_size", r.largestBytes);
    ctx.record("total_ext_download_size", r.totalBytes);
  },
};
