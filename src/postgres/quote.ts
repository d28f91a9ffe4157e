// Quoting for SQL and postgresql.conf. Every identifier and literal the agent sends goes through
// these functions; SQL is never built by naive interpolation.

/** `"name"` with embedded double quotes doubled. Not idempotent: quote raw names only. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A string literal: `'...'` with quotes doubled; `E'...'` when it contains a backslash. */
export function quoteLiteral(value: string): string {
  const doubled = value.replaceAll("'", "''");
  if (!value.includes("\\")) return `'${doubled}'`;
  return `E'${doubled.replaceAll("\\", "\\\\")}'`;
}

/** Dollar-quotes `text` with the shortest tag `x`, `xx`, ... that the text does not contain. */
export function quoteDollar(text: string): string {
  let tag = "x";
  while (text.includes(`$${tag}$`) || text.endsWith(`$${tag}`)) tag += "x";
  return `$${tag}$${text}$${tag}$`;
}

/**
 * A postgresql.conf value: `'...'` with `'` doubled and `\` doubled. A line break or NUL cannot
 * be quoted (the file is read line by line): the spec parser refuses them with their JSON path,
 * and this refuses whatever reaches it anyway.
 */
export function quoteConfValue(value: string): string {
  if (/[\n\r\0]/.test(value)) throw new Error("a postgresql.conf value cannot contain a line break or NUL");
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}
