// Postgres WAL positions ("X/Y" hex text, as pg_lsn prints them) as comparable numbers.

/** Parses `X/Y` into a 64-bit position; throws on anything else (the text usually comes from a peer). */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new Error(`invalid LSN ${JSON.stringify(text)}: expected X/Y in hex`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** The canonical `X/Y` spelling (upper-case hex, no leading zeros), as Postgres prints it. */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
