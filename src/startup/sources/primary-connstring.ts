// The `source.connstring` of a primary source, in either libpq spelling (a postgresql:// URL or
// `key=value` pairs). The password is taken out before the string reaches a command line (where
// `ps` would show it) or a log line; tools get it through PGPASSWORD instead.

export interface SplitConnstr {
  /** The connection string without its password. */
  readonly withoutPassword: string;
  readonly password: string | null;
}

const URL_USERINFO = /^(postgres(?:ql)?:\/\/)([^@/?#]*)@/i;
const KV_PASSWORD = /(^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/i;

function kvValue(raw: string): string {
  if (!raw.startsWith("'")) return raw;
  return raw.slice(1, -1).replace(/\\(.)/g, "$1");
}

export function splitPassword(connstr: string): SplitConnstr {
  const url = URL_USERINFO.exec(connstr);
  if (url) {
    const colon = url[2].indexOf(":");
    if (colon < 0) return { withoutPassword: connstr, password: null };
    const user = url[2].slice(0, colon);
    const password = decodeURIComponent(url[2].slice(colon + 1));
    return { withoutPassword: `${url[1]}${user}@${connstr.slice(url[0].length)}`, password };
  }
  if (/^postgres(ql)?:\/\//i.test(connstr)) return { withoutPassword: connstr, password: null };
  const kv = KV_PASSWORD.exec(connstr);
  if (!kv) return { withoutPassword: connstr, password: null };
  const without = (connstr.slice(0, kv.index) + kv[1] + connstr.slice(kv.index + kv[0].length)).trim();
  return { withoutPassword: without.replace(/\s{2,}/g, " "), password: kvValue(kv[2]) };
}

/** The connection string as it may appear in logs and errors. */
export function redactConnstr(connstr: string): string {
  return splitPassword(connstr).withoutPassword;
}
