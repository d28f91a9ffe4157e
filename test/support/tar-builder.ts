// Writes tar archives entry by entry, including entries no archiver would make on purpose
// (`..` in names, absolute paths, links pointing out, devices): the hostile archives the remote
// extension installer must refuse. Plain ustar headers, 512-byte blocks.
export type TarEntry =
  | { type: "file"; name: string; data: Buffer | string; mode?: number }
  | { type: "dir"; name: string }
  | { type: "symlink"; name: string; target: string }
  | { type: "hardlink"; name: string; target: string }
  | { type: "fifo"; name: string };

const TYPEFLAG = { file: "0", hardlink: "1", symlink: "2", fifo: "6", dir: "5" } as const;

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, at: number, len: number) => h.write(s.slice(0, len), at, len, "utf8");
  const octal = (n: number, at: number, len: number) =>
    put(`${n.toString(8).padStart(len - 1, "0")}\0`, at, len);
  put(e.name, 0, 100);
  octal("mode" in e && e.mode !== undefined ? e.mode : e.type === "dir" ? 0o755 : 0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(Math.floor(Date.now() / 1000), 136, 12);
  h.fill(" ", 148, 156);
  put(TYPEFLAG[e.type], 156, 1);
  if (e.type === "symlink" || e.type === "hardlink") put(e.target, 157, 100);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return h;
}

export function buildTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.type === "file" ? Buffer.from(e.data) : Buffer.alloc(0);
    parts.push(header(e, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
