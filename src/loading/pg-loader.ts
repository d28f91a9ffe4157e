// pg, loaded on the first connection. Apart from modules.ts because the exporter thread's bundle
// shares postgres/connection.ts: esbuild cuts a chunk at every `import()` it sees in a bundle,
// used or not, so the exporter must not import the agent's list.
export const pg = () => import("pg");
