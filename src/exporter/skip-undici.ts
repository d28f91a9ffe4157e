// Keeps undici out of the exporter's memory. On Node 20 (no global `navigator`) pg probes for a
// Cloudflare Worker by constructing a fetch `Response`, which loads the whole fetch stack (several
// MB of RSS) into a process that never uses fetch. Giving `navigator` a Node user agent answers
// the probe first. Imported before anything that loads pg.
if (typeof (globalThis as { navigator?: unknown }).navigator === "undefined") {
  Object.defineProperty(globalThis, "navigator", {
    value: { userAgent: `Node.js/${process.version}` },
    configurable: true,
  });
}
