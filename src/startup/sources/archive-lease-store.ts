// Where the stanza lease lives for each repository type: a directory in a posix repository
// (exclusive create with O_EXCL, renewals by rename), or a key prefix in an S3 bucket (exclusive
// create with `If-None-Match: *`, which AWS S3 and most S3-compatible servers honour; on one that
// ignores it, two primaries racing for the same generation are not told apart).
import { chown, mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { OsUser } from "../../postgres/os-user.js";
import type { ArchiveRepoJson } from "../../spec/types.js";
import type { S3Secrets } from "./archive-config.js";
import type { LeaseStore } from "./archive-lease.js";
import { S3Client } from "./archive-s3-client.js";

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** `<repo>/compute_ctl/<stanza>`; files owned by the Postgres OS user like the rest of the repository. */
export function posixLeaseStore(repoPath: string, stanza: string, owner: OsUser | null): LeaseStore {
  const dir = path.join(repoPath, "compute_ctl", stanza);
  const own = async (p: string) => {
    if (owner) await chown(p, owner.uid, owner.gid);
  };
  const ensureDir = async () => {
    const first = await mkdir(dir, { recursive: true, mode: 0o750 });
    if (first) for (let d = dir; d.length >= first.length; d = path.dirname(d)) await own(d);
  };
  return {
    where: `posix:${dir}`,
    async list() {
      try {
        return await readdir(dir);
      } catch (err) {
        if (errCode(err) === "ENOENT") return [];
        throw err;
      }
    },
    async read(name) {
      try {
        return await readFile(path.join(dir, name), "utf8");
      } catch (err) {
        if (errCode(err) === "ENOENT") return null;
        throw err;
      }
    },
    async createExclusive(name, body) {
      await ensureDir();
      let fh: Awaited<ReturnType<typeof open>>;
      try {
        fh = await open(path.join(dir, name), "wx", 0o640);
      } catch (err) {
        if (errCode(err) === "EEXIST") return false;
        throw err;
      }
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await own(path.join(dir, name));
      return true;
    },
    async overwrite(name, body) {
      const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
      const fh = await open(tmp, "w", 0o640);
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await own(tmp);
      await rename(tmp, path.join(dir, name));
    },
    async remove(name) {
      await rm(path.join(dir, name), { force: true });
    },
  };
}

export function s3LeaseStore(
  repo: Extract<ArchiveRepoJson, { type: "s3" }>,
  stanza: string,
  secrets: S3Secrets,
): LeaseStore {
  const client = new S3Client(
    {
      bucket: repo.bucket,
      endpoint: repo.endpoint,
      region: repo.region,
      port: repo.port ?? null,
      uriStyle: repo.uri_style,
      verifyTls: repo.verify_tls,
      caFile: repo.ca_file ?? null,
    },
    secrets,
  );
  const prefix = `${path.posix.join(repo.path, "compute_ctl", stanza).replace(/^\/+/, "")}/`;
  const check = (what: string, res: { status: number; body: string }, ok: number[]) => {
    if (!ok.includes(res.status)) {
      throw new Error(
        `S3 ${what} s3://${repo.bucket}/${prefix}: HTTP ${res.status} ${res.body.slice(0, 200)}`,
      );
    }
  };
  return {
    where: `s3://${repo.bucket}/${prefix}`,
    async list() {
      return (await client.list(prefix)).map((k) => k.slice(prefix.length)).filter((k) => !k.includes("/"));
    },
    async read(name) {
      const res = await client.request("GET", prefix + name);
      if (res.status === 404) return null;
      check(`get ${name}`, res, [200]);
      return res.body;
    },
    async createExclusive(name, body) {
      const res = await client.request("PUT", prefix + name, { body, headers: { "if-none-match": "*" } });
      if (res.status === 412 || res.status === 409) return false;
      check(`put ${name}`, res, [200]);
      return true;
    },
    async overwrite(name, body) {
      check(`put ${name}`, await client.request("PUT", prefix + name, { body }), [200]);
    },
    async remove(name) {
      check(`delete ${name}`, await client.request("DELETE", prefix + name), [200, 204, 404]);
    },
  };
}
