// Reads Prometheus text exposition (0.0.4) back into samples: StreamMetrics turns the exporter's
// /metrics into `MetricSample`s with it, and the /metrics merge uses the line classification to
// find family boundaries. Malformed lines throw with their line number.
import type { MetricSample } from "../api/compute-api.js";

export type ParsedLine =
  | { kind: "help"; name: string; text: string }
  | { kind: "type"; name: string; type: string }
  | { kind: "comment" }
  | { kind: "blank" }
  | { kind: "sample"; name: string; labels: Record<string, string>; value: number; timestampMs?: number };

const NAME_START = /[a-zA-Z_:]/;
const NAME_CHAR = /[a-zA-Z0-9_:]/;

export class PromTextError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`Prometheus text line ${line}: ${message}`);
    this.name = "PromTextError";
  }
}

function unescapeText(raw: string, quotes: boolean, lineNo: number): string {
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c !== "\\") {
      out += c;
      continue;
    }
    const n = raw[++i];
    if (n === "\\") out += "\\";
    else if (n === "n") out += "\n";
    else if (n === '"' && quotes) out += '"';
    // HELP texts keep unknown escapes verbatim; label values may not have them.
    else if (!quotes) out += `\\${n ?? ""}`;
    else throw new PromTextError(lineNo, `invalid escape \\${n ?? ""} in label value`);
  }
  return out;
}

/** Parses a float as Go's strconv.ParseFloat does for exposition values. */
export function parseValue(text: string, lineNo: number): number {
  if (text === "NaN") return Number.NaN;
  if (text === "+Inf" || text === "Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text))
    throw new PromTextError(lineNo, `invalid value ${JSON.stringify(text)}`);
  return Number(text);
}

function parseSample(line: string, lineNo: number): ParsedLine {
  let i = 0;
  if (!NAME_START.test(line[0] ?? "")) throw new PromTextError(lineNo, "expected a metric name");
  while (i < line.length && NAME_CHAR.test(line[i])) i++;
  const name = line.slice(0, i);
  const labels: Record<string, string> = {};
  if (line[i] === "{") {
    i++;
    for (;;) {
      while (line[i] === " ") i++;
      if (line[i] === "}") {
        i++;
        break;
      }
      const start = i;
      while (i < line.length && /[a-zA-Z0-9_]/.test(line[i])) i++;
      const label = line.slice(start, i);
      if (!/^[a-zA-Z_]/.test(label)) throw new PromTextError(lineNo, `invalid label name in ${name}`);
      while (line[i] === " ") i++;
      if (line[i] !== "=" || line[i + 1] !== '"')
        throw new PromTextError(lineNo, `expected ="..." after label ${label}`);
      i += 2;
      const vstart = i;
      while (i < line.length && line[i] !== '"') i += line[i] === "\\" ? 2 : 1;
      if (i >= line.length) throw new PromTextError(lineNo, `unterminated value of label ${label}`);
      if (label in labels) throw new PromTextError(lineNo, `label ${label} repeated in ${name}`);
      labels[label] = unescapeText(line.slice(vstart, i), true, lineNo);
      i++;
      while (line[i] === " ") i++;
      if (line[i] === ",") i++;
      else if (line[i] !== "}") throw new PromTextError(lineNo, `expected , or } in labels of ${name}`);
    }
  }
  const rest = line
    .slice(i)
    .trim()
    .split(/[ \t]+/);
  if (line[i] !== " " && line[i] !== "\t")
    throw new PromTextError(lineNo, `expected a space before the value of ${name}`);
  if (rest.length < 1 || rest.length > 2 || rest[0] === "")
    throw new PromTextError(lineNo, `expected "value [timestamp]" after ${name}`);
  const value = parseValue(rest[0], lineNo);
  if (rest.length === 2) {
    if (!/^-?\d+$/.test(rest[1]))
      throw new PromTextError(lineNo, `invalid timestamp ${JSON.stringify(rest[1])}`);
    return { kind: "sample", name, labels, value, timestampMs: Number(rest[1]) };
  }
  return { kind: "sample", name, labels, value };
}

/** Classifies one line (no trailing newline). */
export function parseLine(line: string, lineNo: number): ParsedLine {
  if (line.trim() === "") return { kind: "blank" };
  if (line.startsWith("#")) {
    const m = /^#[ \t]+(HELP|TYPE)[ \t]+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:[ \t]+(.*))?$/.exec(line);
    if (!m) return { kind: "comment" };
    if (m[1] === "HELP") return { kind: "help", name: m[2], text: unescapeText(m[3] ?? "", false, lineNo) };
    const type = (m[3] ?? "").trim();
    if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(type)) {
      throw new PromTextError(lineNo, `invalid TYPE ${JSON.stringify(type)} for ${m[2]}`);
    }
    return { kind: "type", name: m[2], type };
  }
  return parseSample(line, lineNo);
}

/** All samples of a text, in order. */
export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const parsed = parseLine(lines[i], i + 1);
    if (parsed.kind === "sample")
      samples.push({ name: parsed.name, labels: parsed.labels, value: parsed.value });
  }
  return samples;
}
