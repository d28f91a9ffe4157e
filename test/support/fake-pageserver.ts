// A protocol-level fake of Neon's pageserver for the `basebackup` command: it speaks the
// Postgres wire protocol, checks the password (the storage auth token), and answers
// `basebackup <tenant> <timeline> [<lsn>] --gzip [--replica]` with COPY OUT data: a real gzip'd
// tar of a real (vanilla) cluster, streamed from a file. Failures can be injected: dropped
// connections, a stream cut short, and an ErrorResponse instead of the COPY (as the pageserver
// answers an unknown tenant or timeline).
import { createReadStream, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { asUser } from "../../src/postgres/os-user.js";
import { type FakePgServer, startFakePgServer, type WireSession } from "./fake-pg-wire.js";
import { pgBinaries, pgOsUser, startTestPostgres, tempDir } from "./postgres.js";

export interface FakePageserverOptions {
  /** The gzip'd tar served as the basebackup. */
  readonly tarGz: string;
  /** Required password; null: none. */
  readonly password?: string | null;
  /** Drop the first N connections without answering. */
  readonly dropFirst?: number;
  /** Cut the stream after this many bytes of CopyData... */
  readonly truncateAtBytes?: number;
  /** ...in the first N basebackups (default: all). */
  readonly truncateFirst?: number;
  /** How the cut looks: the connection drops, or the server ends the COPY cleanly (a short stream). */
  readonly truncateHow?: "drop" | "copy-done";
  /** Answer the first N basebackups with an ErrorResponse (default: none)... */
  readonly errorFirst?: number;
  /** ...with this message and SQLSTATE. */
  readonly error?: { readonly message: string; readonly code: string };
}

export interface BasebackupCall {
  readonly command: string;
  /** Startup parameters of the connection that sent it (options, application_name, ...). */
  readonly params: Record<string, string>;
  readonly password: string | null;
  /** Whether the whole stream was sent and the COPY ended (false: error, cut, or client gone). */
  finished: boolean;
}

export interface FakePageserver {
  readonly port: number;
  /** `postgres://no_user@127.0.0.1:<port>` */
  readonly url: string;
  readonly calls: BasebackupCall[];
  connections(): number;
  close(): Promise<void>;
}

const CHUNK = 64 * 1024;

async function streamFile(session: WireSession, file: string, limit: number): Promise<void> {
  let sent = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK }) as AsyncIterable<Buffer>) {
    const part = chunk.subarray(0, Math.max(0, limit - sent));
    if (part.length) await session.copyData(part);
    sent += part.length;
    if (sent >= limit) return;
  }
}

export async function startFakePageserver(opts: FakePageserverOptions): Promise<FakePageserver> {
  const calls: BasebackupCall[] = [];
  let basebackups = 0;
  const server: FakePgServer = await startFakePgServer({
    password: opts.password ?? null,
    accept: (n) => n >= (opts.dropFirst ?? 0),
    async onQuery(session, sql) {
      if (!sql.startsWith("basebackup ")) throw new Error(`unsupported command: ${sql}`);
      const call: BasebackupCall = {
        command: sql,
        params: session.params,
        password: session.password,
        finished: false,
      };
      calls.push(call);
      const nth = basebackups++;
      if (nth < (opts.errorFirst ?? 0)) {
        const e = opts.error ?? { message: "injected pageserver error", code: "XX000" };
        await session.error(e.message, e.code);
        return;
      }
      const truncate =
        opts.truncateAtBytes !== undefined && nth < (opts.truncateFirst ?? Number.POSITIVE_INFINITY);
      await session.copyOutResponse();
      await streamFile(
        session,
        opts.tarGz,
        truncate ? (opts.truncateAtBytes as number) : Number.POSITIVE_INFINITY,
      );
      if (truncate && (opts.truncateHow ?? "drop") === "drop") {
        session.socket.destroy();
        return;
      }
      await session.copyDone();
      await session.commandComplete("SELECT 1");
      call.finished = true;
    },
  });
  return {
    port: server.port,
    url: `postgres://no_user@127.0.0.1:${server.port}`,
    calls,
    connections: server.connections,
    close: server.close,
  };
}

export interface ClusterTarball {
  /** base.tar.gz of a cluster with table `t(id int, note text)` holding rows 1..100. */
  readonly file: string;
  /** An LSN at or after the end of the backup (pg_current_wal_lsn() once it finished). */
  readonly lsn: string;
  readonly bytes: number;
  cleanup(): void;
}

/**
 * A real gzip'd tar of a real cluster, as `pg_basebackup -Ft -z -X fetch` writes it (WAL inside,
 * so it starts on its own). `setup` may add data before the backup.
 */
export async function makeClusterTarball(
  setup?: (query: (sql: string) => Promise<unknown>) => Promise<void>,
): Promise<ClusterTarball> {
  const pg = await startTestPostgres();
  const dir = path.join(tempDir("cct-tgz-"), "b");
  try {
    await pg.query("CREATE TABLE t (id int primary key, note text)");
    await pg.query("INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g");
    if (setup) await setup((sql) => pg.query(sql));
    mkdirSync(dir);
    if (pgOsUser) await execa("chown", [`${pgOsUser.uid}:${pgOsUser.gid}`, dir]);
    await execa(
      pgBinaries.tool("pg_basebackup"),
      [
        "-D",
        dir,
        "-d",
        pg.connstr(),
        "-Ft",
        "-z",
        "-Z",
        "1",
        "-X",
        "fetch",
        "-c",
        "fast",
        "--no-sync",
        "--no-manifest",
      ],
      { ...asUser(pgOsUser) },
    );
    const [{ lsn }] = await pg.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn");
    const file = path.join(dir, "base.tar.gz");
    if (!readdirSync(dir).includes("base.tar.gz"))
      throw new Error(`pg_basebackup wrote ${readdirSync(dir).join(", ")}`);
    return {
      file,
      lsn,
      bytes: statSync(file).size,
      cleanup: () => rmSync(path.dirname(dir), { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(path.dirname(dir), { recursive: true, force: true });
    throw err;
  } finally {
    await pg.stop();
  }
}
