// A strict reader of Prometheus text format 0.0.4, independent of the exporter's own parser: it
// rejects everything a careful scraper could choke on (HELP/TYPE repeated or after samples,
// a family split in two, repeated series, bad names, bad escapes, bad values, missing final
// newline) and returns the families for assertions.

export interface StrictSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface StrictFamily {
  name: string;
  help: string | null;
  type: string;
  samples: StrictSample[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
const FLOAT = /^(NaN|[+-]Inf|[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)$/;

function fail(lineNo: number, line: string, why: string): never {
  throw new Error(`strict Prometheus check, line ${lineNo} (${JSON.stringify(line.slice(0, 120))}): ${why}`);
}

function familyOf(sample: string, families: Map<string, StrictFamily>): string {
  for (const [suffix, types] of [
    ["_bucket", ["histogram"]],
    ["_sum", ["histogram", "summary"]],
    ["_count", ["histogram", "summary"]],
  ] as const) {
    if (sample.endsWith(suffix)) {
      const base = sample.slice(0, -suffix.length);
      const f = families.get(base);
      if (f && (types as readonly string[]).includes(f.type)) return base;
    }
  }
  return sample;
}

function parseLabels(body: string, lineNo: number, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const eq = body.indexOf("=", i);
    if (eq < 0) fail(lineNo, line, "label without =");
    const name = body.slice(i, eq);
    if (!LABEL.test(name) || name.startsWith("__"))
      fail(lineNo, line, `bad label name ${JSON.stringify(name)}`);
    if (name in labels) fail(lineNo, line, `label ${name} repeated`);
    if (body[eq + 1] !== '"') fail(lineNo, line, `label ${name} value not quoted`);
    let j = eq + 2;
    let value = "";
    for (;;) {
      if (j >= body.length) fail(lineNo, line, `unterminated value of ${name}`);
      const c = body[j];
      if (c === '"') break;
      if (c === "\n") fail(lineNo, line, "raw newline in label value");
      if (c === "\\") {
        const n = body[j + 1];
        if (n === "\\") value += "\\";
        else if (n === '"') value += '"';
        else if (n === "n") value += "\n";
        else fail(lineNo, line, `bad escape \\${n} in label ${name}`);
        j += 2;
        continue;
      }
      value += c;
      j++;
    }
    labels[name] = value;
    i = j + 1;
    if (i < body.length) {
      if (body[i] !== ",") fail(lineNo, line, "labels not separated by a comma");
      i++;
    }
  }
  return labels;
}

/** Checks `text` strictly and returns its families by name. Throws on the first violation. */
export function strictParse(text: string): Map<string, StrictFamily> {
  if (text.length > 0 && !text.endsWith("\n"))
    throw new Error("strict Prometheus check: text does not end with a newline");
  const families = new Map<string, StrictFamily>();
  const closed = new Set<string>();
  const series = new Set<string>();
  let current: string | null = null;
  const enter = (name: string, lineNo: number, line: string) => {
    if (current === name) return;
    if (closed.has(name) || families.has(name)) fail(lineNo, line, `family ${name} is not contiguous`);
    if (current) closed.add(current);
    current = name;
  };
  const lines = text.split("\n");
  lines.pop();
  lines.forEach((line, idx) => {
    const lineNo = idx + 1;
    // The 0.0.4 format ignores empty lines (prom-client writes one between families).
    if (line === "") return;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) {
        if (/^#\s*(HELP|TYPE)\b/.test(line)) fail(lineNo, line, "malformed HELP/TYPE line");
        return; // plain comment
      }
      const [, kind, name, rest = ""] = m;
      if (!METRIC.test(name)) fail(lineNo, line, `bad metric name ${name}`);
      if (current !== name) {
        enter(name, lineNo, line);
        families.set(name, { name, help: null, type: "untyped", samples: [] });
      }
      const f = families.get(name) as StrictFamily;
      if (f.samples.length > 0) fail(lineNo, line, `${kind} after samples of ${name}`);
      if (kind === "HELP") {
        if (f.help !== null) fail(lineNo, line, `second HELP for ${name}`);
        if (/\\[^\\n]/.test(rest.replaceAll("\\\\", ""))) fail(lineNo, line, "bad escape in HELP");
        f.help = rest.replaceAll("\\n", "\n").replaceAll("\\\\", "\\");
      } else {
        if ((f as StrictFamily & { typed?: boolean }).typed) fail(lineNo, line, `second TYPE for ${name}`);
        if (!TYPES.has(rest)) fail(lineNo, line, `bad type ${rest}`);
        f.type = rest;
        (f as StrictFamily & { typed?: boolean }).typed = true;
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!m) fail(lineNo, line, "malformed sample line");
    const [, name, labelBody = "", valueText] = m;
    if (!FLOAT.test(valueText)) fail(lineNo, line, `bad value ${valueText}`);
    const labels = parseLabels(labelBody, lineNo, line);
    const famName = familyOf(name, families);
    if (current !== famName) {
      enter(famName, lineNo, line);
      families.set(famName, { name: famName, help: null, type: "untyped", samples: [] });
    }
    const key = `${name}{${Object.entries(labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(",")}}`;
    if (series.has(key)) fail(lineNo, line, `series ${key} repeated`);
    series.add(key);
    const value =
      valueText === "NaN"
        ? Number.NaN
        : valueText.endsWith("Inf")
          ? (valueText[0] === "-" ? -1 : 1) * Number.POSITIVE_INFINITY
          : Number(valueText);
    (families.get(famName) as StrictFamily).samples.push({ name, labels, value });
  });
  return families;
}
