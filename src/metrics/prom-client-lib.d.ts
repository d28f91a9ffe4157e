// prom-client ships declarations for its index only; these are the files imported one by one in
// prom-client-parts.ts (each `module.exports` one class).
declare module "prom-client/lib/counter.js" {
  const Counter: unknown;
  export default Counter;
}
declare module "prom-client/lib/gauge.js" {
  const Gauge: unknown;
  export default Gauge;
}
declare module "prom-client/lib/registry.js" {
  const Registry: unknown;
  export default Registry;
}
