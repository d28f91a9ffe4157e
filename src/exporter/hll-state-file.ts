// Saves the sliding HyperLogLog between exporter runs. Neon keeps its registers in shared memory,
// so they survive its exporter; ours live in the exporter thread, and without this file a
// restart (crash, hang, agent restart) would drop every working-set window to zero and invite a downscale.
// Written to a temp name and renamed, so a reader never sees half a file.
//
// The file lives in the data directory by default (exporter-supervisor.ts), which only the
// compute's OS user can write. Wherever it lives, nobody can redirect the write with a symlink:
// the temp file is created exclusively (O_EXCL) without following links (O_NOFOLLOW), and the
// rename replaces whatever is at the final name (a link included) instead of writing through
// it; the read does not follow a link either.
import {
  closeSync,
  constants,
  fchownSync,
  fstatSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import type { SlidingHll } from "./sliding-hll.js";

const MAGIC = Buffer.from("CCTSHLL1");
const { O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY } = constants;

function createExclusive(file: string): number {
  try {
    return openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    // A leftover of a crashed save (or something planted): remove the name, never its target.
    unlinkSync(file);
    return openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  }
}

/**
 * Writes `file`. `owner`: the owner of the data directory when the agent runs as root, so the file
 * belongs to it like everything else there (pgBackRest, running as that user, backs up PGDATA
 * and cannot read a root-owned 0600 file).
 */
export function saveHll(
  hll: SlidingHll,
  file: string,
  owner: { uid: number; gid: number } | null = null,
): void {
  const body = Buffer.from(hll.regs.buffer, hll.regs.byteOffset, hll.regs.byteLength);
  const tmp = `${file}.tmp${process.pid}`;
  const fd = createExclusive(tmp);
  try {
    if (owner) fchownSync(fd, owner.uid, owner.gid);
    writeSync(fd, Buffer.concat([MAGIC, body]));
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** Restores registers from `file`; false when there is none or it does not fit (then nothing changes). */
export function loadHll(hll: SlidingHll, file: string, nowMs = Date.now()): boolean {
  let data: Buffer;
  let fd: number | null = null;
  try {
    fd = openSync(file, O_RDONLY | O_NOFOLLOW);
    if (!fstatSync(fd).isFile()) return false;
    data = readFileSync(fd);
  } catch {
    return false;
  } finally {
    if (fd !== null) closeSync(fd);
  }
  if (data.length !== MAGIC.length + hll.regs.byteLength || !data.subarray(0, MAGIC.length).equals(MAGIC))
    return false;
  const regs = new Float64Array(hll.regs.length);
  Buffer.from(regs.buffer).set(data.subarray(MAGIC.length));
  // Timestamps from the future (clock stepped back) would never age out: drop them.
  for (let i = 0; i < regs.length; i++) if (!(regs[i] >= 0 && regs[i] <= nowMs)) regs[i] = 0;
  hll.regs.set(regs);
  return true;
}
