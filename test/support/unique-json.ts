// A strict JSON parser for log lines that, unlike JSON.parse (and jq, which keep the last of two
// equal keys), rejects an object with the same key twice at any depth: a filter on such a key
// silently misses lines. Otherwise RFC 8259: no trailing commas, no comments, one value.

export class DuplicateKeyError extends Error {}

export function parseUniqueJson(text: string): unknown {
  let i = 0;
  const fail = (why: string): never => {
    throw new SyntaxError(`${why} at offset ${i} of ${JSON.stringify(text.slice(0, 200))}`);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const string = (): string => {
    const start = i;
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text[i];
      if (c === '"') break;
      if (c < " ") fail("control character in string");
      i += c === "\\" ? 2 : 1;
    }
    i++;
    // The escapes themselves are JSON.parse's to decode.
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: string): unknown => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const out: Record<string, unknown> = {};
      const seen = new Set<string>();
      ws();
      if (text[i] === "}") {
        i++;
        return out;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a key");
        const key = string();
        if (seen.has(key))
          throw new DuplicateKeyError(`duplicate key ${JSON.stringify(key)} in ${path || "$"}`);
        seen.add(key);
        ws();
        if (text[i] !== ":") fail("expected :");
        i++;
        out[key] = value(`${path}.${key}`);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return out;
        }
        fail("expected , or }");
      }
    }
    if (c === "[") {
      i++;
      const out: unknown[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return out;
      }
      for (;;) {
        out.push(value(`${path}[${out.length}]`));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return out;
        }
        fail("expected , or ]");
      }
    }
    if (c === '"') return string();
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 64));
    if (!m) fail("expected a value");
    i += (m as RegExpExecArray)[0].length;
    return JSON.parse((m as RegExpExecArray)[0]);
  };
  const result = value("");
  ws();
  if (i !== text.length) fail("trailing characters");
  return result;
}
