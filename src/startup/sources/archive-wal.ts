// WAL facts the archive source needs after a shutdown and during recovery: segment names and
// numbers, where the shutdown checkpoint record ends (the final LSN `/terminate` reports), and
// what pg_controldata says about a stopped cluster.
import { open } from "node:fs/promises";
import path from "node:path";
import * as load from "../../loading/modules.js";
import type { PgBinaries } from "../../postgres/binaries.js";
import { formatLsn, parseLsn } from "../../postgres/lsn.js";
import { asUser, type OsUser } from "../../postgres/os-user.js";

const XLOG_BLCKSZ = 8192n;
const SHORT_PHD = 24n; // MAXALIGN(sizeof(XLogPageHeaderData))
const LONG_PHD = 40n; // MAXALIGN(sizeof(XLogLongPageHeaderData))
const USABLE_IN_PAGE = XLOG_BLCKSZ - SHORT_PHD;

function maxAlign(n: bigint): bigint {
  return (n + 7n) & ~7n;
}

function usableInSegment(segSize: bigint): bigint {
  return (segSize / XLOG_BLCKSZ) * USABLE_IN_PAGE - (LONG_PHD - SHORT_PHD);
}

/** Postgres's XLogRecPtrToBytePos: a position counted in bytes that hold records. */
function toBytePos(ptr: bigint, segSize: bigint): bigint {
  const fullSegs = ptr / segSize;
  let offset = ptr % segSize;
  const fullPages = offset / XLOG_BLCKSZ;
  offset %= XLOG_BLCKSZ;
  let result = fullSegs * usableInSegment(segSize);
  if (fullPages === 0n) {
    if (offset > 0n) result += offset - LONG_PHD;
  } else {
    result += XLOG_BLCKSZ - LONG_PHD + (fullPages - 1n) * USABLE_IN_PAGE;
    if (offset > 0n) result += offset - SHORT_PHD;
  }
  return result;
}

/** Postgres's XLogBytePosToEndRecPtr: the LSN at which a record ending at `pos` ends. */
function toEndRecPtr(pos: bigint, segSize: bigint): bigint {
  const usable = usableInSegment(segSize);
  const fullSegs = pos / usable;
  let left = pos % usable;
  let segOffset: bigint;
  if (left < XLOG_BLCKSZ - LONG_PHD) {
    segOffset = left === 0n ? 0n : left + LONG_PHD;
  } else {
    left -= XLOG_BLCKSZ - LONG_PHD;
    const fullPages = left / USABLE_IN_PAGE;
    left %= USABLE_IN_PAGE;
    segOffset = XLOG_BLCKSZ + fullPages * XLOG_BLCKSZ + (left > 0n ? left + SHORT_PHD : 0n);
  }
  return fullSegs * segSize + segOffset;
}

/** The LSN right after a record of `totalLen` bytes that starts at `start` (page headers counted). */
export function recordEnd(start: bigint, totalLen: number, segSize: number): bigint {
  const seg = BigInt(segSize);
  return toEndRecPtr(toBytePos(start, seg) + maxAlign(BigInt(totalLen)), seg);
}

export function segmentNumber(lsn: bigint, segSize: number): bigint {
  return lsn / BigInt(segSize);
}

/** `TTTTTTTTXXXXXXXXYYYYYYYY` for timeline `tli` and segment number `segno`. */
export function segmentName(tli: number, segno: bigint, segSize: number): string {
  const perId = 0x100000000n / BigInt(segSize);
  const hex = (n: bigint | number, w = 8) => n.toString(16).toUpperCase().padStart(w, "0");
  return `${hex(tli)}${hex(segno / perId)}${hex(segno % perId)}`;
}

/** Timeline and segment number of a WAL segment file name; null for anything else. */
export function parseSegmentName(name: string, segSize: number): { tli: number; segno: bigint } | null {
  const m = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/.exec(name);
  if (!m) return null;
  const perId = 0x100000000n / BigInt(segSize);
  return { tli: Number.parseInt(m[1], 16), segno: BigInt(`0x${m[2]}`) * perId + BigInt(`0x${m[3]}`) };
}

export interface ControlData {
  readonly state: string;
  readonly checkpointLsn: bigint;
  readonly timeline: number;
  readonly segSize: number;
}

/** Reads `pg_controldata` of a stopped cluster (labels in the C locale). */
export async function readControlData(
  pg: PgBinaries,
  osUser: OsUser | null,
  pgdata: string,
): Promise<ControlData> {
  const { execa } = await load.execa();
  const r = await execa(pg.tool("pg_controldata"), [pgdata], {
    ...asUser(osUser),
    env: { LC_ALL: "C" },
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`pg_controldata failed: ${String(r.stderr).trim()}`);
  const field = (label: string) => {
    const line = String(r.stdout)
      .split("\n")
      .find((l) => l.startsWith(`${label}:`));
    if (!line) throw new Error(`pg_controldata printed no "${label}"`);
    return line.slice(label.length + 1).trim();
  };
  return {
    state: field("Database cluster state"),
    checkpointLsn: parseLsn(field("Latest checkpoint location")),
    timeline: Number(field("Latest checkpoint's TimeLineID")),
    segSize: Number(field("Bytes per WAL segment")),
  };
}

/** Total length of the WAL record at `lsn`, read from its segment in `walDir`. */
export async function recordLengthAt(
  walDir: string,
  tli: number,
  lsn: bigint,
  segSize: number,
): Promise<number> {
  const file = path.join(walDir, segmentName(tli, segmentNumber(lsn, segSize), segSize));
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, Number(lsn % BigInt(segSize)));
    if (bytesRead !== 4) throw new Error(`cannot read the WAL record at ${formatLsn(lsn)} in ${file}`);
    return buf.readUInt32LE(0);
  } finally {
    await fh.close();
  }
}
