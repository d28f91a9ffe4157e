// The three prom-client classes the agent uses, imported from their own files: the package's
// index also loads default process metrics, cluster aggregation, the push gateway and the
// exemplar support with @opentelemetry/api (code the agent never runs, loaded at every agent
// start). Types come from the package's own declarations.
import type * as Prom from "prom-client";
import CounterImpl from "prom-client/lib/counter.js";
import GaugeImpl from "prom-client/lib/gauge.js";
import RegistryImpl from "prom-client/lib/registry.js";

export const Registry = RegistryImpl as unknown as typeof Prom.Registry;
export const Counter = CounterImpl as unknown as typeof Prom.Counter;
export const Gauge = GaugeImpl as unknown as typeof Prom.Gauge;
