// A strict reader of Prometheus text format 0.0.4 for tests, independent of the product's own
// writer/parser: HELP/TYPE at most once per family and before its samples, families contiguous,
// valid names, label syntax and escapes, numeric values. Throws on the first violation.
export interface StrictSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface StrictFamily {
  name: string;
  type: string | null;
  help: string | null;
  samples: StrictSample[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function familyOf(sample: string, families: Map<string, StrictFamily>): string {
  for (const suffix of ["_bucket", "_sum", "_count", "_total", "_created"]) {
    if (sample.endsWith(suffix)) {
      const base = sample.slice(0, -suffix.length);
      const f = families.get(base);
      if (f?.type && f.type !== "gauge" && f.type !== "untyped") return base;
    }
  }
  return sample;
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf("=", i);
    if (eq < 0) throw new Error(`line ${line}: label without '='`);
    const name = text.slice(i, eq).trim();
    if (!LABEL.test(name)) throw new Error(`line ${line}: bad label name ${JSON.stringify(name)}`);
    if (text[eq + 1] !== '"') throw new Error(`line ${line}: label value not quoted`);
    let j = eq + 2;
    let value = "";
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === "\\") {
        const n = text[++j];
        if (n === "n") value += "\n";
        else if (n === "\\" || n === '"') value += n;
        else throw new Error(`line ${line}: bad escape \\${n}`);
      } else value += text[j];
    }
    if (text[j] !== '"') throw new Error(`line ${line}: unterminated label value`);
    if (name in labels) throw new Error(`line ${line}: duplicate label ${name}`);
    labels[name] = value;
    i = j + 1;
    if (text[i] === ",") i++;
    else if (i < text.length) throw new Error(`line ${line}: expected ',' between labels`);
  }
  return labels;
}

export function parsePrometheusStrict(text: string): Map<string, StrictFamily> {
  const families = new Map<string, StrictFamily>();
  const closed = new Set<string>();
  let current: string | null = null;
  const open = (name: string, line: number): StrictFamily => {
    if (current !== name) {
      if (closed.has(name)) throw new Error(`line ${line}: family ${name} is not contiguous`);
      if (current) closed.add(current);
      current = name;
    }
    let f = families.get(name);
    if (!f) {
      f = { name, type: null, help: null, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  if (text.length && !text.endsWith("\n")) throw new Error("text does not end with a newline");
  text.split("\n").forEach((raw, idx) => {
    const line = idx + 1;
    if (raw.trim() === "") return;
    if (raw.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(raw);
      if (!m) return; // plain comment
      const [, kind, name, rest = ""] = m;
      if (!METRIC.test(name)) throw new Error(`line ${line}: bad metric name ${name}`);
      const f = open(name, line);
      if (kind === "HELP") {
        if (f.help !== null) throw new Error(`line ${line}: second HELP for ${name}`);
        f.help = rest;
      } else {
        if (f.type !== null) throw new Error(`line ${line}: second TYPE for ${name}`);
        if (f.samples.length) throw new Error(`line ${line}: TYPE after samples of ${name}`);
        if (!TYPES.has(rest)) throw new Error(`line ${line}: unknown type ${rest}`);
        f.type = rest;
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/.exec(raw);
    if (!m) throw new Error(`line ${line}: malformed sample ${JSON.stringify(raw)}`);
    const [, name, , labelText = "", valueText] = m;
    const value = valueText === "+Inf" ? Infinity : valueText === "-Inf" ? -Infinity : Number(valueText);
    if (Number.isNaN(value) && valueText !== "NaN") throw new Error(`line ${line}: bad value ${valueText}`);
    const f = open(familyOf(name, families), line);
    const labels = parseLabels(labelText, line);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (f.samples.some((s) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}` === key)) {
      throw new Error(`line ${line}: duplicate series ${key}`);
    }
    f.samples.push({ name, labels, value });
  });
  return families;
}
