// The agent's counters and gauges, kept as families of the one metrics model (metric-family.ts).
// The shape follows prom-client's (`new Gauge({ name, help, labelNames, registers, collect })`,
// `inc`, `set`, `reset`), which the agent used before; prom-client itself is not used: its
// package index loads default process metrics, cluster aggregation, the push gateway and
// OpenTelemetry support into the process (about a fifth of a bare Node's RSS again, and a
// noticeable share of the agent's start), importing its classes file by file needs an untyped
// deep-import workaround, its text renderer would be a second one beside ours, and what the agent
// needs of it is below.
import type { MetricFamily, MetricType, Sample } from "./metric-family.js";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type Labels<L extends string> = Partial<Record<L, string | number>>;

export interface MetricOptions<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  registers?: readonly Registry[];
}

abstract class Metric<L extends string> {
  abstract readonly type: MetricType;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  /** Called before every read of the registry (values read at scrape time); synchronous. */
  collect: (() => void) | undefined;
  /** Series by their label values; an unlabelled metric has one series from the start, at 0. */
  readonly #series = new Map<string, Sample>();

  constructor(opts: MetricOptions<L>, collect: ((this: never) => void) | undefined) {
    if (!METRIC_NAME.test(opts.name)) throw new Error(`invalid metric name ${JSON.stringify(opts.name)}`);
    for (const l of opts.labelNames ?? [])
      if (!LABEL_NAME.test(l) || l.startsWith("__"))
        throw new Error(`metric ${opts.name}: invalid label name ${JSON.stringify(l)}`);
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = opts.labelNames ?? [];
    this.collect = collect?.bind(this as never);
    this.reset();
    for (const r of opts.registers ?? []) r.register(this);
  }

  /** Forgets every series (an unlabelled metric goes back to 0). */
  reset(): void {
    this.#series.clear();
    if (this.labelNames.length === 0) this.#series.set("", { value: 0 });
  }

  protected series(labels: Labels<L> | undefined): Sample {
    const given = labels ?? {};
    const values: Record<string, string> = {};
    for (const k of Object.keys(given)) {
      if (!this.labelNames.includes(k as L))
        throw new Error(`metric ${this.name}: label ${JSON.stringify(k)} is not one of its labels`);
    }
    for (const k of this.labelNames) {
      const v = (given as Record<string, string | number | undefined>)[k];
      if (v === undefined) throw new Error(`metric ${this.name}: label ${k} missing`);
      values[k] = String(v);
    }
    const key = this.labelNames.map((k) => values[k]).join("\u0000");
    let s = this.#series.get(key);
    if (!s) {
      s = this.labelNames.length ? { labels: values, value: 0 } : { value: 0 };
      this.#series.set(key, s);
    }
    return s;
  }

  family(): MetricFamily {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      samples: [...this.#series.values()].map((s) => ({ ...s })),
    };
  }
}

function split<L extends string>(a: Labels<L> | number | undefined, b: number | undefined, dflt: number) {
  return typeof a === "number" || a === undefined
    ? { labels: undefined, value: a ?? dflt }
    : { labels: a, value: b ?? dflt };
}

export class Counter<L extends string = string> extends Metric<L> {
  readonly type = "counter";

  constructor(opts: MetricOptions<L> & { collect?: (this: Counter<L>) => void }) {
    super(opts, opts.collect);
  }

  /** Adds `value` (default 1; never negative) to the series of `labels`. */
  inc(labels?: Labels<L> | number, value?: number): void {
    const a = split(labels, value, 1);
    if (!(a.value >= 0)) throw new Error(`counter ${this.name} cannot go down (${a.value})`);
    this.series(a.labels).value += a.value;
  }
}

export class Gauge<L extends string = string> extends Metric<L> {
  readonly type = "gauge";

  /** `collect` is called (with the gauge as `this`) before every read of its registries. */
  constructor(opts: MetricOptions<L> & { collect?: (this: Gauge<L>) => void }) {
    super(opts, opts.collect);
  }

  set(labels: Labels<L> | number, value?: number): void {
    const a = split(labels, value, 0);
    this.series(a.labels).value = a.value;
  }

  inc(labels?: Labels<L> | number, value?: number): void {
    const a = split(labels, value, 1);
    this.series(a.labels).value += a.value;
  }
}

/** A set of metrics with distinct names, read as families in registration order. */
export class Registry {
  readonly #metrics = new Map<string, Metric<string>>();

  register(metric: Metric<string>): void {
    const known = this.#metrics.get(metric.name);
    if (known && known !== metric) throw new Error(`metric ${metric.name} is registered twice`);
    this.#metrics.set(metric.name, metric);
  }

  /** Every family with its current values (each metric's `collect` runs first). */
  families(): MetricFamily[] {
    const out: MetricFamily[] = [];
    for (const m of this.#metrics.values()) {
      m.collect?.();
      out.push(m.family());
    }
    return out;
  }
}
