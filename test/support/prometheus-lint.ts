// The naming lint promtool runs (`promtool check metrics`, client_golang's promlint), written
// from its rules, plus one more that Prometheus users trip over: an empty label value is the
// same series as the label being absent. Works on the families of test/support/
// prometheus-strict.ts, so a text that reaches the lint has already passed the format check.
import type { StrictFamily } from "./prometheus-strict.js";

export interface LintProblem {
  metric: string;
  problem: string;
}

const BASE_UNITS: Record<string, string> = {
  amperes: "amperes",
  bytes: "bytes",
  celsius: "celsius",
  grams: "grams",
  joules: "joules",
  kelvin: "kelvin",
  meters: "meters",
  metres: "metres",
  seconds: "seconds",
  volts: "volts",
  minutes: "seconds",
  hours: "seconds",
  days: "seconds",
  weeks: "seconds",
  kelvins: "kelvin",
  fahrenheit: "celsius",
  rankine: "celsius",
  inches: "meters",
  yards: "meters",
  miles: "meters",
  bits: "bytes",
  calories: "joules",
  pounds: "grams",
  ounces: "grams",
};
const PREFIXES = [
  "pico",
  "nano",
  "micro",
  "milli",
  "centi",
  "deci",
  "deca",
  "hecto",
  "kilo",
  "kibi",
  "mega",
  "mibi",
  "giga",
  "gibi",
  "tera",
  "tebi",
  "peta",
  "pebi",
];
const ABBREVIATIONS = ["s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d"];
const TYPES = ["counter", "gauge", "histogram", "summary"];
const CAMEL = /[a-z][A-Z]/;

const hasPart = (name: string, part: string) => name.includes(`_${part}_`) || name.endsWith(`_${part}`);

function unitOf(name: string): { unit: string; base: string } | null {
  for (const part of name.split("_")) {
    if (BASE_UNITS[part]) return { unit: part, base: BASE_UNITS[part] };
    for (const p of PREFIXES)
      if (part.startsWith(p) && BASE_UNITS[part.slice(p.length)])
        return { unit: part, base: BASE_UNITS[part.slice(p.length)] };
  }
  return null;
}

function lintFamily(f: StrictFamily): string[] {
  const out: string[] = [];
  const name = f.name;
  const lower = name.toLowerCase();
  if (!f.help) out.push("no help text");
  if (f.type === "counter" && !name.endsWith("_total"))
    out.push('counter metrics should have "_total" suffix');
  if (f.type !== "counter" && f.type !== "untyped" && name.endsWith("_total"))
    out.push('non-counter metrics should not have "_total" suffix');
  if (f.type !== "gauge" && f.type !== "untyped" && name.endsWith("_timestamp_seconds"))
    out.push('non-gauge metrics should not have "_timestamp_seconds" suffix');
  if (f.type !== "untyped") {
    if (f.type !== "histogram" && name.endsWith("_bucket"))
      out.push('non-histogram metrics should not have "_bucket" suffix');
    for (const suffix of ["_count", "_sum"])
      if (f.type !== "histogram" && f.type !== "summary" && name.endsWith(suffix))
        out.push(`non-histogram and non-summary metrics should not have "${suffix}" suffix`);
  }
  const unit = unitOf(name);
  if (unit && unit.unit !== unit.base) out.push(`use base unit "${unit.base}" instead of "${unit.unit}"`);
  for (const t of TYPES) if (hasPart(lower, t)) out.push(`metric name should not include type '${t}'`);
  if (name.includes(":")) out.push("metric names should not contain ':'");
  if (CAMEL.test(name)) out.push("metric names should be written in 'snake_case' not 'camelCase'");
  if (ABBREVIATIONS.some((a) => hasPart(lower, a)))
    out.push("metric names should not contain abbreviated units");
  const labelProblems = new Set<string>();
  for (const s of f.samples) {
    for (const [label, value] of Object.entries(s.labels)) {
      if (CAMEL.test(label))
        labelProblems.add("label names should be written in 'snake_case' not 'camelCase'");
      if (f.type !== "untyped" && f.type !== "histogram" && label === "le")
        labelProblems.add('non-histogram metrics should not have "le" label');
      if (f.type !== "untyped" && f.type !== "summary" && label === "quantile")
        labelProblems.add('non-summary metrics should not have "quantile" label');
      if (value === "") labelProblems.add(`empty value of label ${label} (the same series as no label)`);
    }
  }
  return [...out, ...labelProblems];
}

/** Every problem of every family, in exposition order. */
export function lintMetrics(families: Map<string, StrictFamily>): LintProblem[] {
  return [...families.values()].flatMap((f) => lintFamily(f).map((problem) => ({ metric: f.name, problem })));
}
