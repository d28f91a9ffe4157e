// Zstandard for the LFC state and remote extension archives. Node 20's zlib has no zstd (it came
// in 22.15), so: `fzstd` (pure JS, streaming) decompresses and `@hpcc-js/wasm-zstd` (WebAssembly
// inlined in its JS, loaded on first use) compresses. Decompression is always bounded: a frame
// may not declare a window over 128 MiB (zstd's own default decoder limit) and the output stops
// at the caller's limit, so a small hostile input cannot make the agent allocate gigabytes.
import { Transform, type TransformCallback } from "node:stream";

export const MAX_WINDOW_BYTES = 128 * 1024 * 1024;

export class ZstdError extends Error {
  override readonly name = "ZstdError";
}

const MAGIC = 0xfd2fb528;

/**
 * Checks the first frame header: magic and window size. Returns null while fewer bytes than the
 * header needs are at hand.
 */
function checkFrameHeader(head: Buffer): boolean | null {
  if (head.length < 6) return null;
  if (head.readUInt32LE(0) !== MAGIC) throw new ZstdError("not zstd data (bad magic number)");
  const flags = head[4];
  const singleSegment = (flags >> 5) & 1;
  const fcsFlag = flags >> 6;
  if (!singleSegment) {
    const wd = head[5];
    const base = 2 ** (10 + (wd >> 3));
    const window = base + (base / 8) * (wd & 7);
    if (window > MAX_WINDOW_BYTES)
      throw new ZstdError(`zstd window of ${window} bytes is over the ${MAX_WINDOW_BYTES}-byte limit`);
    return true;
  }
  // Single segment: the window is the content size, stored after the (optional) dictionary id.
  const dictBytes = [0, 1, 2, 4][flags & 3];
  const fcsBytes = [1, 2, 4, 8][fcsFlag];
  const at = 5 + dictBytes;
  if (head.length < at + fcsBytes) return null;
  let size = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + head[at + i];
  if (fcsBytes === 2) size += 256;
  if (size > MAX_WINDOW_BYTES)
    throw new ZstdError(
      `zstd frame of ${size} bytes in one segment is over the ${MAX_WINDOW_BYTES}-byte limit`,
    );
  return true;
}

/** A Transform that decompresses zstd, failing once the output passes `maxBytes`. */
export class ZstdDecompressStream extends Transform {
  #decoder: import("fzstd").Decompress | null = null;
  #head: Buffer = Buffer.alloc(0);
  #checked = false;
  #out = 0;
  #failed: Error | null = null;
  #fzstd: typeof import("fzstd") | null = null;

  constructor(readonly maxBytes: number) {
    super();
  }

  async #load(): Promise<typeof import("fzstd")> {
    this.#fzstd ??= await import("fzstd");
    return this.#fzstd;
  }

  #decoderFor(fzstd: typeof import("fzstd")) {
    this.#decoder ??= new fzstd.Decompress((data) => {
      if (this.#failed) return;
      this.#out += data.length;
      if (this.#out > this.maxBytes) {
        this.#failed = new ZstdError(`decompressed data is over the ${this.maxBytes}-byte limit`);
        return;
      }
      this.push(Buffer.from(data.buffer, data.byteOffset, data.length));
    });
    return this.#decoder;
  }

  #feed(fzstd: typeof import("fzstd"), chunk: Buffer, final: boolean): void {
    if (!this.#checked) {
      this.#head = Buffer.concat([this.#head, chunk]);
      const ok = checkFrameHeader(this.#head);
      if (ok === null && !final) return;
      if (ok === null) throw new ZstdError("zstd data ends inside the frame header");
      this.#checked = true;
      chunk = this.#head;
      this.#head = Buffer.alloc(0);
    }
    try {
      this.#decoderFor(fzstd).push(chunk, final);
    } catch (err) {
      throw new ZstdError(`corrupt zstd data: ${(err as Error).message}`, { cause: err });
    }
    if (this.#failed) throw this.#failed;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#load().then(
      (fzstd) => {
        try {
          this.#feed(fzstd, chunk, false);
          done();
        } catch (err) {
          done(err as Error);
        }
      },
      (err: unknown) => done(err as Error),
    );
  }

  override _flush(done: TransformCallback): void {
    this.#load().then(
      (fzstd) => {
        try {
          if (!this.#checked && this.#head.length === 0) throw new ZstdError("empty input: no zstd frame");
          this.#feed(fzstd, Buffer.alloc(0), true);
          done();
        } catch (err) {
          done(err as Error);
        }
      },
      (err: unknown) => done(err as Error),
    );
  }
}

/** Decompresses a whole buffer; ZstdError when it is not zstd, corrupt, truncated or too large. */
export async function zstdDecompress(data: Buffer, maxBytes: number): Promise<Buffer> {
  const stream = new ZstdDecompressStream(maxBytes);
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.once("end", resolve);
    stream.once("error", reject);
  });
  stream.end(data);
  await done;
  return Buffer.concat(chunks);
}

let compressor: Promise<import("@hpcc-js/wasm-zstd").Zstd> | null = null;

/** Compresses at zstd's default level (3). */
export async function zstdCompress(data: Buffer): Promise<Buffer> {
  compressor ??= import("@hpcc-js/wasm-zstd").then(({ Zstd }) => Zstd.load());
  const zstd = await compressor;
  const out = zstd.compress(data, 3);
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}
