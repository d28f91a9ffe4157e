// Remote extensions through the real agent (`-r`), against a private copy of the system's
// Postgres installation from which the `seg` and `isn` contrib extensions were left out
// (test/support/shadow-postgres.ts): control files at start, CREATE EXTENSION working only after
// POST /extension_server downloaded the archive (built here from the system's own seg files and
// served by a local HTTP server), Neon's status codes, one download for concurrent requests,
// and hostile archives refused with nothing written.
import assert from "node:assert/strict";
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { findPgInstallDirs } from "../src/remote-ext/pg-install-dirs.js";
import { zstdCompress } from "../src/zstd/zstd-codec.js";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { pgBinaries, pgOsUser } from "./support/postgres.js";
import { type ShadowPostgres, shadowPostgres, systemExtensionFiles } from "./support/shadow-postgres.js";
import { buildTar, type TarEntry } from "./support/tar-builder.js";

const MAX_BYTES = 2 * 1024 * 1024;

/** A `.tar.zst` of the system's files of `ext` (SQL scripts under share/extension, the .so under lib). */
async function extensionArchive(ext: string, extra: TarEntry[] = []): Promise<Buffer> {
  const files = systemExtensionFiles(ext);
  const entries: TarEntry[] = [
    { type: "dir", name: "share/" },
    { type: "dir", name: "share/extension/" },
    ...files.share
      .filter((f) => !f.endsWith(".control"))
      .map(
        (f): TarEntry => ({
          type: "file",
          name: `share/extension/${path.basename(f)}`,
          data: readFileSync(f),
        }),
      ),
    { type: "dir", name: "lib/" },
    ...files.lib.map(
      (f): TarEntry => ({
        type: "file",
        name: `lib/${path.basename(f)}`,
        data: readFileSync(f),
        mode: 0o755,
      }),
    ),
    ...extra,
  ];
  return zstdCompress(buildTar(entries));
}

/** Serves archives by path; can hold answers until released, and counts requests. */
class ArchiveServer {
  server!: http.Server;
  base = "";
  archives = new Map<string, Buffer>();
  requests: string[] = [];
  holding = false;
  #held: (() => void)[] = [];

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      this.requests.push(req.url ?? "");
      const answer = () => {
        const body = this.archives.get(req.url ?? "");
        if (!body) res.writeHead(404).end();
        else res.writeHead(200, { "content-length": body.length }).end(body);
      };
      if (this.holding) this.#held.push(answer);
      else answer();
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/pg-ext`;
  }

  release(): void {
    this.holding = false;
    for (const a of this.#held.splice(0)) a();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Every path (with type, mode and owner) under the two target directories. */
function snapshot(shadow: ShadowPostgres): string[] {
  const out: string[] = [];
  for (const dir of [shadow.sharedir, shadow.pkglibdir]) {
    for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      const p = path.join(e.parentPath, e.name);
      const st = lstatSync(p);
      out.push(`${p} ${st.mode.toString(8)} ${st.uid}`);
    }
  }
  return out.sort();
}

const HOSTILE: Record<string, TarEntry[]> = {
  traversal: [{ type: "file", name: "share/extension/../../../../evil.sql", data: "evil" }],
  absolute: [{ type: "file", name: "/tmp/compute-ctl-evil.sql", data: "evil" }],
  symlink_absolute: [{ type: "symlink", name: "lib/evil.so", target: "/etc/passwd" }],
  symlink_up: [{ type: "symlink", name: "lib/evil", target: "../../../../.." }],
  below_symlink: [
    { type: "symlink", name: "share/extension/here", target: "." },
    { type: "file", name: "share/extension/here/evil.sql", data: "evil" },
  ],
  hardlink_out: [{ type: "hardlink", name: "lib/evil.so", target: "/etc/passwd" }],
  fifo: [{ type: "fifo", name: "lib/evil.fifo" }],
  oversize: [{ type: "file", name: "lib/huge.bin", data: Buffer.alloc(MAX_BYTES + 1) }],
};

/** Why each is refused: the check that caught it, not some other failure. */
const REASON: Record<string, string> = {
  evil_traversal: "'\\.\\.' in the path",
  evil_absolute: "absolute path",
  evil_symlink_absolute: "absolute target",
  evil_symlink_up: "target outside its tree",
  evil_below_symlink: "below a symlink",
  evil_hardlink_out: "absolute",
  evil_fifo: "FIFO entries are not allowed",
  evil_oversize: "more than 2097152 bytes",
  truncated: "corrupt zstd data|unexpected EOF",
  gone: "404 Not Found",
};

describe("remote extensions (-r) on a private copy of the Postgres installation", () => {
  let shadow: ShadowPostgres;
  const archives = new ArchiveServer();
  let agent: RunningAgent;
  const spec = () =>
    minimalSpec({
      remote_extensions: {
        public_extensions: [
          "seg",
          "isn",
          ...Object.keys(HOSTILE).map((k) => `evil_${k}`),
          "truncated",
          "gone",
        ],
        custom_extensions: [],
        library_index: { seg: "seg", isn: "isn" },
        extension_data: {
          seg: {
            control_data: {
              "seg.control": readFileSync(
                systemExtensionFiles("seg").share.find((f) => f.endsWith(".control")) ?? "",
                "utf8",
              ),
            },
            archive_path: "v15/extensions/seg.tar.zst",
          },
          isn: {
            control_data: {
              "isn.control": readFileSync(
                systemExtensionFiles("isn").share.find((f) => f.endsWith(".control")) ?? "",
                "utf8",
              ),
            },
            archive_path: "v15/extensions/isn.tar.zst",
          },
          hidden: {
            control_data: { "hidden.control": "default_version = '1.0'\n" },
            archive_path: "v15/extensions/hidden.tar.zst",
          },
          truncated: { control_data: {}, archive_path: "v15/extensions/truncated.tar.zst" },
          gone: { control_data: {}, archive_path: "v15/extensions/gone.tar.zst" },
          ...Object.fromEntries(
            Object.keys(HOSTILE).map((k) => [
              `evil_${k}`,
              { control_data: {}, archive_path: `v15/extensions/evil_${k}.tar.zst` },
            ]),
          ),
        },
      },
    });

  before(async () => {
    shadow = shadowPostgres({ without: ["seg", "isn"] });
    await archives.start();
    archives.archives.set("/pg-ext/v15/extensions/seg.tar.zst", await extensionArchive("seg"));
    archives.archives.set("/pg-ext/v15/extensions/isn.tar.zst", await extensionArchive("isn"));
    const full = await extensionArchive("seg");
    archives.archives.set("/pg-ext/v15/extensions/truncated.tar.zst", full.subarray(0, full.length >> 1));
    for (const [k, entries] of Object.entries(HOSTILE)) {
      // A harmless file first: all or nothing means it must not stay either.
      const tar = [
        { type: "file", name: `share/extension/evil_${k}--1.0.sql`, data: "SELECT 1;" } as TarEntry,
        ...entries,
      ];
      archives.archives.set(`/pg-ext/v15/extensions/evil_${k}.tar.zst`, await zstdCompress(buildTar(tar)));
    }
    agent = await startAgent({
      name: "remote-ext",
      args: [
        "-b",
        shadow.postgres,
        "--no-template-cache",
        "-r",
        archives.base,
        "--remote-ext-max-bytes",
        String(MAX_BYTES),
      ],
    });
  });
  after(async () => {
    await agent?.stop();
    await archives.stop();
    shadow?.remove();
  });

  const ext = (name: string, query = "") =>
    agent.post(`${agent.internalUrl}/extension_server/${name}${query}`);

  test("the install directories are found from the binaries: pg_config, or the layout without it", () => {
    assert.deepEqual(findPgInstallDirs(pgBinaries), {
      sharedir: "/usr/share/postgresql/15",
      pkglibdir: "/usr/lib/postgresql/15/lib",
      via: "pg_config",
    });
    assert.deepEqual(findPgInstallDirs({ bindir: shadow.bindir }), {
      sharedir: shadow.sharedir,
      pkglibdir: shadow.pkglibdir,
      via: "layout",
    });
    const withConfig = shadowPostgres({ without: [], withPgConfig: true });
    try {
      assert.deepEqual(findPgInstallDirs({ bindir: withConfig.bindir }), {
        sharedir: withConfig.sharedir,
        pkglibdir: withConfig.pkglibdir,
        via: "pg_config",
      });
    } finally {
      withConfig.remove();
    }
  });

  test("an empty compute has no extension information (409); then control files are written at start", async () => {
    const res = await ext("seg");
    assert.equal(res.status, 409);
    assert.deepEqual(await res.json(), { error: "information about remote extensions is unavailable" });
    assert.equal((await agent.post("/configure", { spec: spec() })).status, 200);
    const control = path.join(shadow.sharedir, "extension", "seg.control");
    assert.equal(lstatSync(control).isFile(), true, "seg.control written as a file");
    assert.equal(statSync(control).mode & 0o777, 0o644);
    assert.throws(
      () => lstatSync(path.join(shadow.sharedir, "extension", "hidden.control")),
      "not listed: not written",
    );
    const [{ name }] = await agent.query<{ name: string }>(
      "SELECT name FROM pg_available_extensions WHERE name = 'seg'",
    );
    assert.equal(name, "seg");
  });

  test("CREATE EXTENSION works only after the download; files readable by Postgres, directories not writable by it", async () => {
    await assert.rejects(
      agent.query("CREATE EXTENSION seg"),
      /has no installation script|could not open extension/,
    );
    const extDirBefore = statSync(path.join(shadow.sharedir, "extension"));
    const res = await ext("seg");
    assert.equal(res.status, 200, await res.text());
    await agent.query("CREATE EXTENSION seg");
    const [{ v }] = await agent.query<{ v: string }>("SELECT '1 .. 2'::seg::text AS v");
    assert.equal(v, "1 .. 2");
    const so = statSync(path.join(shadow.pkglibdir, "seg.so"));
    const sql = statSync(path.join(shadow.sharedir, "extension", "seg--1.1.sql"));
    assert.equal(sql.mode & 0o777, 0o644);
    assert.equal(so.mode & 0o777, 0o755);
    if (pgOsUser) {
      assert.equal(so.uid, 0, "installed by the agent's user (root), not by postgres");
      const extDir = statSync(path.join(shadow.sharedir, "extension"));
      assert.deepEqual([extDir.uid, extDir.mode], [extDirBefore.uid, extDirBefore.mode]);
      assert.equal(extDir.mode & 0o022, 0, "not group/world writable");
      assert.equal(statSync(shadow.pkglibdir).uid, 0);
    }
    // Again, and as a library name: already installed, no second download.
    const before = archives.requests.length;
    assert.equal((await ext("seg.so", "?is_library=true")).status, 200);
    assert.equal(archives.requests.length, before);
    const metrics = await (await agent.get("/metrics")).text();
    assert.match(
      metrics,
      /compute_ctl_remote_ext_requests_total\{http_status="200 OK",filename="seg.tar.zst"\} 1/,
    );
  });

  test("unknown, unlisted and malformed requests: 404 / 400 with Neon's messages", async () => {
    const unknown = await ext("nope");
    assert.equal(unknown.status, 404);
    assert.deepEqual(await unknown.json(), { error: "extension nope is not found" });
    assert.equal((await ext("hidden")).status, 404, "in extension_data but not public or custom");
    const lib = await ext("nope.so.3", "?is_library=true");
    assert.equal(lib.status, 404);
    assert.deepEqual(await lib.json(), { error: "library nope is not found" });
    assert.equal((await ext("seg", "?is_library=maybe")).status, 400);
    assert.equal((await ext("__proto__")).status, 404);
  });

  test("concurrent requests for one extension share a single download", async () => {
    archives.holding = true;
    const before = archives.requests.length;
    let answered = 0;
    const calls = Array.from({ length: 6 }, (_, i) =>
      ext(i % 2 ? "isn.so" : "isn", i % 2 ? "?is_library=true" : "").then((r) => {
        answered++;
        return r.status;
      }),
    );
    for (const end = Date.now() + 60_000; Date.now() < end && archives.requests.length === before; )
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(answered, 0, "nobody answered before the download finished");
    archives.release();
    assert.deepEqual(await Promise.all(calls), [200, 200, 200, 200, 200, 200]);
    assert.equal(archives.requests.length - before, 1, "one download");
    await agent.query("CREATE EXTENSION isn");
  });

  test("hostile, truncated and missing archives are refused with nothing written", async () => {
    const before = snapshot(shadow);
    for (const name of [...Object.keys(HOSTILE).map((k) => `evil_${k}`), "truncated", "gone"]) {
      const res = await ext(name);
      assert.equal(res.status, 500, name);
      const { error } = (await res.json()) as { error: string };
      assert.match(error, new RegExp(`error downloading extension "${name}": .*${REASON[name]}`), name);
      assert.deepEqual(snapshot(shadow), before, `${name}: nothing written, no staging left`);
    }
    const metrics = await (await agent.get("/metrics")).text();
    assert.match(
      metrics,
      /compute_ctl_remote_ext_requests_total\{http_status="404 Not Found",filename="gone.tar.zst"\} 1/,
    );
    assert.throws(() => lstatSync("/tmp/compute-ctl-evil.sql"));
    assert.equal((await agent.status()).status, "running");
  });
});
