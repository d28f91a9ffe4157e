// The one metrics model: families as data (the agent's registry, the exporter's collectors),
// rendered once at each edge. The text writer's output passes the strict checker (escaping, one
// HELP/TYPE per family, contiguous families); the agent's and the exporter's families are joined
// as data with no family exposed twice; StreamMetrics gets the same values as samples.
import assert from "node:assert/strict";
import { test } from "node:test";
import { flattenSamples, type MetricFamily, unionByName } from "../src/metrics/metric-family.js";
import { Counter, Gauge, Registry } from "../src/metrics/metric-registry.js";
import { renderFamilies } from "../src/metrics/prometheus-text.js";
import { strictParse } from "./support/prometheus-strict.js";

test("writer escapes label values and HELP texts so a strict parser reads them back exactly", () => {
  const nasty = 'db "quoted" \\ back\nslash';
  const text = renderFamilies([
    {
      name: "connection_counts",
      help: "Connection counts\nsecond line \\ backslash",
      type: "gauge",
      samples: [
        { labels: { datname: nasty, state: "idle" }, value: 3 },
        { labels: { datname: "", state: "active" }, value: 1 },
      ],
    },
    { name: "lfc_hits", help: "LFC cache hits", type: "gauge", samples: [{ value: 1.5e21 }] },
    {
      name: "specials",
      help: "x",
      type: "gauge",
      samples: [
        { labels: { k: "nan" }, value: Number.NaN },
        { labels: { k: "inf" }, value: Number.POSITIVE_INFINITY },
        { labels: { k: "-inf" }, value: Number.NEGATIVE_INFINITY },
      ],
    },
  ]);
  const fams = strictParse(text);
  assert.equal(fams.get("connection_counts")?.help, "Connection counts\nsecond line \\ backslash");
  assert.equal(fams.get("connection_counts")?.samples[0].labels.datname, nasty);
  assert.equal(fams.get("lfc_hits")?.samples[0].value, 1.5e21);
  assert.deepEqual(
    fams.get("specials")?.samples.map((s) => s.value),
    [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
  );
});

test("writer refuses a family rendered twice and invalid names", () => {
  const f = { name: "a", help: "h", type: "gauge" as const, samples: [{ value: 1 }] };
  assert.throws(() => renderFamilies([f, f]), /rendered twice/);
  assert.throws(() => renderFamilies([{ ...f, name: "1bad" }]), /invalid metric name/);
  assert.throws(
    () => renderFamilies([{ ...f, samples: [{ labels: { "bad-label": "x" }, value: 1 }] }]),
    /invalid label name/,
  );
});

test("strict checker rejects split families, repeated HELP, repeated series and bad escapes", () => {
  assert.throws(() => strictParse("a 1\nb 1\na 2\n"), /not contiguous/);
  assert.throws(() => strictParse("# HELP a x\n# HELP a y\na 1\n"), /second HELP/);
  assert.throws(() => strictParse('a{x="1"} 1\na{x="1"} 2\n'), /repeated/);
  assert.throws(() => strictParse('a{x="\\t"} 1\n'), /bad escape/);
  assert.throws(() => strictParse("a 1"), /newline/);
  assert.throws(() => strictParse("a one\n"), /bad value/);
});

test("registry: counters and gauges as families, collect at read time, refusals with the metric's name", () => {
  const reg = new Registry();
  const up = new Gauge({
    name: "compute_ctl_up",
    help: "agent up",
    labelNames: ["status"],
    registers: [reg],
  });
  const reqs = new Counter({ name: "compute_ctl_requests_total", help: "reqs", registers: [reg] });
  let size = 7;
  new Gauge({
    name: "dir_size",
    help: "read at scrape time",
    registers: [reg],
    collect() {
      this.set(size);
    },
  });
  up.set({ status: "running" }, 1);
  reqs.inc();
  reqs.inc(2);
  assert.deepEqual(reg.families(), [
    {
      name: "compute_ctl_up",
      help: "agent up",
      type: "gauge",
      samples: [{ labels: { status: "running" }, value: 1 }],
    },
    { name: "compute_ctl_requests_total", help: "reqs", type: "counter", samples: [{ value: 3 }] },
    { name: "dir_size", help: "read at scrape time", type: "gauge", samples: [{ value: 7 }] },
  ]);
  size = 9;
  assert.equal(reg.families()[2].samples[0].value, 9, "collect runs at every read");
  // A family read is a copy: changing it does not change the metric.
  reg.families()[1].samples[0].value = 100;
  assert.equal(reg.families()[1].samples[0].value, 3);
  up.reset();
  assert.deepEqual(reg.families()[0].samples, []);
  assert.throws(() => reqs.inc(-1), /compute_ctl_requests_total cannot go down/);
  assert.throws(() => up.set({ nope: "x" } as never, 1), /compute_ctl_up: label "nope"/);
  assert.throws(() => up.set({}, 1), /compute_ctl_up: label status missing/);
  assert.throws(
    () => new Gauge({ name: "compute_ctl_up", help: "again", registers: [reg] }),
    /registered twice/,
  );
  assert.throws(() => new Gauge({ name: "1bad", help: "x" }), /invalid metric name/);
});

test("the agent's and the exporter's families join as data: the agent's family wins a name, samples follow", () => {
  const agent: MetricFamily[] = [
    {
      name: "compute_ctl_up",
      help: "agent up",
      type: "gauge",
      samples: [{ labels: { status: "running" }, value: 1 }],
    },
  ];
  const exporter: MetricFamily[] = [
    { name: "compute_ctl_up", help: "exporter's clash", type: "gauge", samples: [{ value: 0 }] },
    { name: "lfc_hits", help: "LFC cache hits", type: "gauge", samples: [{ value: 42 }] },
  ];
  const joined = unionByName(agent, exporter);
  const fams = strictParse(renderFamilies(joined));
  assert.deepEqual([...fams.keys()], ["compute_ctl_up", "lfc_hits"]);
  assert.equal(fams.get("compute_ctl_up")?.samples[0].value, 1, "the agent's value wins");
  assert.deepEqual(flattenSamples(joined), [
    { name: "compute_ctl_up", labels: { status: "running" }, value: 1 },
    { name: "lfc_hits", labels: {}, value: 42 },
  ]);
});
