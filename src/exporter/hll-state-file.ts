// Saves the sliding HyperLogLog between exporter runs. Neon keeps its registers in shared memory,
// so they survive its exporter; ours live in the exporter process, and without this file a
// restart (crash, kill -9) would drop every working-set window to zero and invite a downscale.
// Written to a temp name and renamed, so a reader never sees half a file.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { SlidingHll } from "./sliding-hll.js";

const MAGIC = Buffer.from("CCTSHLL1");

export function saveHll(hll: SlidingHll, file: string): void {
  const body = Buffer.from(hll.regs.buffer, hll.regs.byteOffset, hll.regs.byteLength);
  const tmp = `${file}.tmp${process.pid}`;
  writeFileSync(tmp, Buffer.concat([MAGIC, body]), { mode: 0o600 });
  renameSync(tmp, file);
}

/** Restores registers from `file`; false when there is none or it does not fit (then nothing changes). */
export function loadHll(hll: SlidingHll, file: string, nowMs = Date.now()): boolean {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    return false;
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
