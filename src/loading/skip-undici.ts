// Keeps undici out of every pg user. On Node 20 (no global `navigator`) pg probes for a
// Cloudflare Worker by constructing a fetch `Response`, which loads the whole fetch stack: memory in
// the exporter, which never uses fetch, and main-thread time in the agent at its first
// connection, in the middle of a cold start. Giving `navigator` a Node user agent
// answers the probe first; fetch itself still works. Imported first by both entry points.
if (typeof (globalThis as { navigator?: unknown }).navigator === "undefined") {
  Object.defineProperty(globalThis, "navigator", {
    value: { userAgent: `Node.js/${process.version}` },
    configurable: true,
  });
}
