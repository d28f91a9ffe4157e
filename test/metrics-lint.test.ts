// What a running agent exports on /metrics and /autoscaling_metrics passes the strict format
// check and promtool's naming lint (test/support/prometheus-lint.ts), plus "no empty label
// values", with exactly the documented Neon-compatible exceptions: a new problem fails, and so
// does an exception that no longer occurs (the docs would be stale).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { minimalSpec, REPO, type RunningAgent, startAgent } from "./support/agent.js";
import { type LintProblem, lintMetrics } from "./support/prometheus-lint.js";
import { type StrictFamily, strictParse } from "./support/prometheus-strict.js";

/**
 * Names Neon's compute_ctl exports, kept so Neon's dashboards and alerts work unchanged (see
 * docs/exporter.md, "Names kept from Neon"). Nothing else may trip the lint.
 */
const NEON_EXCEPTIONS: LintProblem[] = [
  { metric: "compute_pg_current_downtime_ms", problem: "metric names should not contain abbreviated units" },
  { metric: "compute_pg_downtime_ms_total", problem: "metric names should not contain abbreviated units" },
];

describe("the lint itself", () => {
  const lint = (text: string) => lintMetrics(strictParse(text)).map((p) => `${p.metric}: ${p.problem}`);
  test("flags what promtool flags, and empty label values", () => {
    assert.deepEqual(
      lint(
        [
          "# HELP a_requests Requests.",
          "# TYPE a_requests counter",
          "a_requests 1",
          "# TYPE b_latency_milliseconds gauge",
          "b_latency_milliseconds 1",
          "# HELP c_size_mb Size.",
          "# TYPE c_size_mb gauge",
          'c_size_mb{dbName="x",tenant=""} 1',
          "# HELP d_total Total.",
          "# TYPE d_total gauge",
          "d_total 1",
          "# HELP e_gauge_value A value.",
          "# TYPE e_gauge_value gauge",
          'e_gauge_value{le="1"} 1',
          "",
        ].join("\n"),
      ),
      [
        'a_requests: counter metrics should have "_total" suffix',
        "b_latency_milliseconds: no help text",
        'b_latency_milliseconds: use base unit "seconds" instead of "milliseconds"',
        "c_size_mb: metric names should not contain abbreviated units",
        "c_size_mb: label names should be written in 'snake_case' not 'camelCase'",
        "c_size_mb: empty value of label tenant (the same series as no label)",
        'd_total: non-counter metrics should not have "_total" suffix',
        "e_gauge_value: metric name should not include type 'gauge'",
        'e_gauge_value: non-histogram metrics should not have "le" label',
      ],
    );
    assert.deepEqual(
      lint(
        "# HELP ok_seconds_total Fine.\n# TYPE ok_seconds_total counter\nok_seconds_total 1\n" +
          '# HELP h_seconds Fine.\n# TYPE h_seconds histogram\nh_seconds_bucket{le="+Inf"} 1\nh_seconds_sum 1\nh_seconds_count 1\n',
      ),
      [],
    );
  });
});

describe("a running agent's metrics", () => {
  let agent: RunningAgent;
  let metrics: Map<string, StrictFamily>;
  let autoscaling: Map<string, StrictFamily>;

  before(async () => {
    const spec = minimalSpec();
    (spec.cluster as { databases: unknown[] }).databases = [
      { name: "appdb", owner: "postgres", options: null },
    ];
    agent = await startAgent({ spec, name: "metrics-lint" });
    await agent.waitForStatus("running");
    await agent.query("CREATE TABLE lint_t AS SELECT 1 AS x").catch(() => {});
    // The exporter starts with the compute; /metrics has its families once it answers.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const text = await (await agent.get("/metrics")).text();
      metrics = strictParse(text);
      if (metrics.has("compute_max_connections") && metrics.has("compute_ctl_up")) break;
      assert.ok(Date.now() < deadline, "the exporter's families reach /metrics");
      await new Promise((r) => setTimeout(r, 200));
    }
    const res = await agent.get("/autoscaling_metrics");
    assert.equal(res.status, 200);
    autoscaling = strictParse(await res.text());
  });
  after(async () => {
    await agent?.stop();
  });

  test("/metrics: only the documented Neon names trip the lint", () => {
    assert.ok(metrics.size > 20, `${metrics.size} families`);
    assert.deepEqual(lintMetrics(metrics), NEON_EXCEPTIONS);
  });

  test("/autoscaling_metrics: clean", () => {
    assert.ok(autoscaling.size > 3, `${autoscaling.size} families`);
    assert.deepEqual(lintMetrics(autoscaling), []);
  });

  test("every exception is documented with its reason", () => {
    const docs = readFileSync(path.join(REPO, "docs/exporter.md"), "utf8");
    const section = docs.slice(docs.indexOf("## Names kept from Neon"));
    assert.ok(section.length > 0 && docs.includes("## Names kept from Neon"));
    for (const e of NEON_EXCEPTIONS) assert.ok(section.includes(`\`${e.metric}\``), `${e.metric} documented`);
  });
});
