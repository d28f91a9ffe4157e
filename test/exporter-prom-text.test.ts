// The exporter's Prometheus text: the writer's output passes the strict checker (escaping,
// one HELP/TYPE per family, contiguous families), the parser reads it back, and the merge of the
// agent's prom-client text with the exporter's never exposes a family twice.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { mergePrometheusText } from "../src/exporter/prom-text-merge.js";
import { PromTextError, parsePrometheusText } from "../src/exporter/prom-text-parser.js";
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
  const samples = parsePrometheusText(text);
  assert.equal(samples[0].labels.datname, nasty);
  assert.deepEqual(
    samples.filter((s) => s.name === "specials").map((s) => s.value),
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

test("parser reports the line of a malformed sample", () => {
  assert.throws(
    () => parsePrometheusText('ok 1\nbroken{x="1" 2\n'),
    (err: unknown) => err instanceof PromTextError && err.line === 2,
  );
});

test("merge keeps the agent's families and drops the exporter's colliding ones, including histogram parts", async () => {
  const reg = new Registry();
  new Gauge({ name: "compute_ctl_up", help: "agent up", registers: [reg] }).set(1);
  new Counter({ name: "compute_ctl_requests_total", help: "reqs", registers: [reg] }).inc();
  new Histogram({
    name: "compute_ctl_latency_seconds",
    help: "lat",
    buckets: [0.1, 1],
    registers: [reg],
  }).observe(0.5);
  const agent = await reg.metrics();
  const exporter = [
    "# HELP compute_ctl_up exporter's clash",
    "# TYPE compute_ctl_up gauge",
    "compute_ctl_up 0",
    "# HELP compute_ctl_latency_seconds_count clash with a histogram part",
    "# TYPE compute_ctl_latency_seconds_count gauge",
    "compute_ctl_latency_seconds_count 9",
    "# HELP lfc_hits LFC cache hits",
    "# TYPE lfc_hits gauge",
    "lfc_hits 42",
    "",
  ].join("\n");
  const merged = mergePrometheusText(agent, exporter);
  const fams = strictParse(merged);
  assert.equal(fams.get("compute_ctl_up")?.samples[0].value, 1, "the agent's value wins");
  assert.equal(fams.get("lfc_hits")?.samples[0].value, 42);
  assert.equal(fams.get("compute_ctl_latency_seconds")?.type, "histogram");
  assert.ok(!merged.includes("compute_ctl_latency_seconds_count 9"));
  assert.equal(merged.match(/# TYPE compute_ctl_up /g)?.length, 1);
});
