// libpq's keyword/value connection strings (`host=localhost port=5432 dbname=postgres`), as
// Neon's flags give them (--filecache-connstr), turned into the postgresql:// URL the rest of
// the agent takes. Values may be single-quoted with backslash escapes, as libpq allows.

/** The keywords of a `key=value ...` string; throws naming the position of a syntax error. */
export function parseKeywordConnstr(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  skipSpace();
  while (i < text.length) {
    const keyStart = i;
    while (i < text.length && /[A-Za-z0-9_]/.test(text[i])) i++;
    const key = text.slice(keyStart, i);
    skipSpace();
    if (!key || text[i] !== "=") throw new Error(`expected keyword=value at position ${keyStart}`);
    i++;
    skipSpace();
    let value = "";
    if (text[i] === "'") {
      i++;
      while (i < text.length && text[i] !== "'") {
        if (text[i] === "\\" && i + 1 < text.length) i++;
        value += text[i++];
      }
      if (text[i] !== "'") throw new Error(`unterminated quoted value of ${key}`);
      i++;
    } else {
      while (i < text.length && !/\s/.test(text[i])) {
        if (text[i] === "\\" && i + 1 < text.length) i++;
        value += text[i++];
      }
    }
    out[key] = value;
    skipSpace();
  }
  return out;
}

/** A URL as is; a keyword string as the equivalent postgresql:// URL (host, port, user, password, dbname). */
export function toConnstrUrl(connstr: string): string {
  if (/^postgres(ql)?:\/\//.test(connstr)) return connstr;
  const kv = parseKeywordConnstr(connstr);
  const host = kv.host ?? kv.hostaddr ?? "localhost";
  const user = encodeURIComponent(kv.user ?? "postgres");
  const password = kv.password === undefined ? "" : `:${encodeURIComponent(kv.password)}`;
  const db = encodeURIComponent(kv.dbname ?? "postgres");
  const params = new URLSearchParams();
  // A socket directory (and then the port) goes into the query, as libpq URLs put it.
  const socket = host.startsWith("/");
  if (socket) params.set("host", host);
  if (socket && kv.port) params.set("port", kv.port);
  const authority = socket ? "" : host.includes(":") ? `[${host}]` : host;
  const port = !socket && kv.port ? `:${kv.port}` : "";
  const query = params.size ? `?${params}` : "";
  return `postgresql://${user}${password}@${authority}${port}/${db}${query}`;
}
