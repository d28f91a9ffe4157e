// Joins two Prometheus texts (the agent's own families, then the exporter's) into one that a
// strict parser accepts: a family whose name (or a histogram/summary suffix it owns) already
// appears in the first text is dropped from the second, so no family is exposed twice.
import { parseLine } from "./prom-text-parser.js";

interface Block {
  name: string;
  type: string;
  lines: string[];
}

function ownedNames(b: Block): string[] {
  if (b.type === "histogram") return [b.name, `${b.name}_bucket`, `${b.name}_sum`, `${b.name}_count`];
  if (b.type === "summary") return [b.name, `${b.name}_sum`, `${b.name}_count`];
  return [b.name];
}

function belongsTo(sample: string, b: Block): boolean {
  return ownedNames(b).includes(sample) || (b.type === "histogram" && sample === `${b.name}_created`);
}

/** Splits a text into family blocks: HELP/TYPE lines and the samples that follow them. */
export function splitFamilies(text: string): Block[] {
  const blocks: Block[] = [];
  let cur: Block | null = null;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const p = parseLine(line, i + 1);
    if (p.kind === "blank" || p.kind === "comment") continue;
    if (p.kind === "help" || p.kind === "type") {
      if (!cur || cur.name !== p.name) {
        cur = { name: p.name, type: "untyped", lines: [] };
        blocks.push(cur);
      }
      if (p.kind === "type") cur.type = p.type;
      cur.lines.push(line);
      continue;
    }
    if (!cur || !belongsTo(p.name, cur)) {
      cur = { name: p.name, type: "untyped", lines: [] };
      blocks.push(cur);
    }
    cur.lines.push(line);
  }
  return blocks;
}

/** `first` unchanged, followed by the families of `second` that do not collide with it. */
export function mergePrometheusText(first: string, second: string): string {
  const firstBlocks = splitFamilies(first);
  const taken = new Set(firstBlocks.flatMap(ownedNames));
  let out = firstBlocks.map((b) => `${b.lines.join("\n")}\n`).join("");
  for (const b of splitFamilies(second)) {
    const names = ownedNames(b);
    if (names.some((n) => taken.has(n))) continue;
    for (const n of names) taken.add(n);
    out += `${b.lines.join("\n")}\n`;
  }
  return out;
}
