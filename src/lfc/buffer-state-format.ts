// The cache state of a vanilla Postgres: which blocks of which relations sat in shared_buffers,
// as JSON (zstd-compressed on the wire). Relations are named by database + pg_class oid and keep
// the relfilenode they had, so a relation rewritten since (TRUNCATE, VACUUM FULL, CLUSTER) is
// recognised and skipped. Blocks are runs: [first block, count, highest usagecount in the run].
// Neon's own state (bytes of neon.get_local_cache_state()) never starts with this prefix.
import * as v from "valibot";

export const FORMAT = "compute-ctl.shared-buffers";
const PREFIX = Buffer.from(`{"format":"${FORMAT}"`);

export const FORKS = ["main", "fsm", "vm", "init"] as const;
export type ForkName = (typeof FORKS)[number];

/** [first block, number of blocks, highest usagecount among them]. */
export type BlockRun = [first: number, count: number, usage: number];

export interface RelationBlocks {
  oid: number;
  filenode: number;
  /** `schema.table`, for logs only. */
  name: string;
  forks: Partial<Record<ForkName, BlockRun[]>>;
}

export interface DatabaseBlocks {
  name: string;
  oid: number;
  relations: RelationBlocks[];
}

export interface BufferState {
  format: typeof FORMAT;
  version: 1;
  block_size: number;
  captured_at: string;
  databases: DatabaseBlocks[];
}

const u32 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffffffff));
const RunSchema = v.tuple([
  u32,
  v.pipe(u32, v.minValue(1)),
  v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255)),
]);
const StateSchema = v.object({
  format: v.literal(FORMAT),
  version: v.literal(1),
  block_size: v.picklist([1024, 2048, 4096, 8192, 16384, 32768]),
  captured_at: v.string(),
  databases: v.array(
    v.object({
      name: v.pipe(v.string(), v.minLength(1), v.maxLength(63)),
      oid: u32,
      relations: v.array(
        v.object({
          oid: u32,
          filenode: u32,
          name: v.pipe(v.string(), v.maxLength(200)),
          forks: v.partial(
            v.object(
              Object.fromEntries(FORKS.map((f) => [f, v.array(RunSchema)])) as Record<
                ForkName,
                v.ArraySchema<typeof RunSchema, undefined>
              >,
            ),
          ),
        }),
      ),
    }),
  ),
});

export function isBufferState(bytes: Buffer): boolean {
  return bytes.subarray(0, PREFIX.length).equals(PREFIX);
}

export function encodeBufferState(state: BufferState): Buffer {
  return Buffer.from(JSON.stringify(state));
}

export class CorruptStateError extends Error {
  override readonly name = "CorruptStateError";
}

export function decodeBufferState(bytes: Buffer): BufferState {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new CorruptStateError(`cache state is not valid JSON: ${(err as Error).message}`);
  }
  const r = v.safeParse(StateSchema, json);
  if (!r.success) {
    const issue = r.issues[0];
    const where = (issue.path ?? []).map((p) => String((p as { key: unknown }).key)).join(".");
    throw new CorruptStateError(`cache state is malformed at ${where || "top level"}: ${issue.message}`);
  }
  return r.output as BufferState;
}

export function pagesIn(state: BufferState): number {
  let n = 0;
  for (const db of state.databases)
    for (const rel of db.relations)
      for (const runs of Object.values(rel.forks)) for (const r of runs ?? []) n += r[1];
  return n;
}
