// Running pgBackRest for the archive source: as the Postgres OS user (like Postgres itself),
// always with our config file and a clean environment (no PGBACKREST_* from the agent's
// environment can change what the spec says), its errors turned into messages that name the
// command and pgBackRest's own reason.
import { accessSync, constants } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Logger } from "pino";
import * as load from "../../loading/modules.js";
import { asUser, type OsUser } from "../../postgres/os-user.js";

export class PgbackrestError extends Error {
  override readonly name = "PgbackrestError";
  constructor(
    message: string,
    readonly exitCode: number | null,
  ) {
    super(message);
  }
}

/** The pgbackrest executable: on PATH, else Debian's /usr/bin/pgbackrest. */
export function findPgbackrest(envPath = process.env.PATH ?? ""): string {
  for (const dir of [...envPath.split(path.delimiter), "/usr/bin"]) {
    if (!dir) continue;
    const file = path.join(dir, "pgbackrest");
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  throw new Error("the archive source needs pgBackRest: install it (Debian: apt-get install pgbackrest)");
}

/** `ERROR: [055]: message` lines of pgbackrest's output, last first. */
export function pgbackrestErrorText(output: string): string {
  const errors = output
    .split("\n")
    .map((l) => /(?:ERROR|ASSERT): \[\d+\]: (.*)$/.exec(l)?.[1])
    .filter((m): m is string => m !== undefined);
  if (errors.length) return errors.at(-1) as string;
  return output.trim().split("\n").slice(-3).join(" | ");
}

export interface StanzaBackup {
  readonly label: string;
  readonly type: "full" | "diff" | "incr";
  readonly startTime: number;
  readonly stopTime: number;
  readonly startLsn: string;
  readonly stopLsn: string;
  /** Bytes of the database the backup restores to. */
  readonly size: number;
  readonly error: boolean;
}

export interface StanzaInfo {
  /** pgBackRest's stanza status: 0 ok, 1 missing stanza path, 2 no valid backups, 3 missing stanza data, ... */
  readonly code: number;
  readonly message: string;
  readonly backups: readonly StanzaBackup[];
  /** Oldest and newest WAL segment in the archive of the current database, if any. */
  readonly archiveMin: string | null;
  readonly archiveMax: string | null;
  readonly backupRunning: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: pgbackrest's JSON, read field by field
type Json = any;

/** The one stanza of `pgbackrest info --output=json`. */
export function parseStanzaInfo(text: string, stanza: string): StanzaInfo {
  let all: Json;
  try {
    all = JSON.parse(text);
  } catch {
    throw new PgbackrestError(`pgbackrest info printed no JSON: ${text.slice(0, 200)}`, null);
  }
  const s: Json = Array.isArray(all) ? all.find((x: Json) => x?.name === stanza) : null;
  if (!s) throw new PgbackrestError(`pgbackrest info did not report stanza ${stanza}`, null);
  const repoStatus = s.repo?.[0]?.status ?? s.status ?? {};
  const dbId = s.db?.at(-1)?.id;
  const archive = (s.archive ?? []).filter((a: Json) => dbId === undefined || a.database?.id === dbId);
  return {
    code: Number(s.status?.code ?? -1),
    message: String(repoStatus.message ?? s.status?.message ?? ""),
    backups: (s.backup ?? []).map(
      (b: Json): StanzaBackup => ({
        label: String(b.label),
        type: b.type,
        startTime: Number(b.timestamp?.start ?? 0),
        stopTime: Number(b.timestamp?.stop ?? 0),
        startLsn: String(b.lsn?.start ?? "0/0"),
        stopLsn: String(b.lsn?.stop ?? "0/0"),
        size: Number(b.info?.size ?? 0),
        error: b.error === true,
      }),
    ),
    archiveMin: archive.at(-1)?.min ?? null,
    archiveMax: archive.at(-1)?.max ?? null,
    backupRunning: s.status?.lock?.backup?.held === true,
  };
}

export interface PgbackrestRunner {
  readonly exe: string;
  readonly config: string;
  readonly stanza: string;
  /** Runs `pgbackrest --config --stanza <args> <command> <positional>`; throws PgbackrestError unless it exits 0. */
  run(
    command: string,
    args?: string[],
    opts?: { signal?: AbortSignal; onLine?: (line: string) => void; positional?: string[] },
  ): Promise<string>;
  info(signal?: AbortSignal): Promise<StanzaInfo>;
}

export function pgbackrestRunner(opts: {
  exe: string;
  config: string;
  stanza: string;
  osUser: OsUser | null;
  log: Logger;
}): PgbackrestRunner {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" };
  if (process.env.TZ) env.TZ = process.env.TZ;
  const runner: PgbackrestRunner = {
    exe: opts.exe,
    config: opts.config,
    stanza: opts.stanza,
    async run(command, args = [], o = {}) {
      const { execa } = await load.execa();
      const argv = [
        `--config=${opts.config}`,
        `--stanza=${opts.stanza}`,
        ...args,
        command,
        ...(o.positional ?? []),
      ];
      const child = execa(opts.exe, argv, {
        ...asUser(opts.osUser),
        env,
        extendEnv: false,
        stdin: "ignore",
        reject: false,
        buffer: false,
        cancelSignal: o.signal,
        forceKillAfterDelay: 5000,
      });
      // Output is read line by line as it comes (progress) and kept whole only for stdout
      // without a line handler (info's JSON); errors come from the last lines of both streams.
      let stdout = "";
      const tail: string[] = [];
      const keep = (line: string) => {
        tail.push(line);
        if (tail.length > 50) tail.shift();
      };
      const closed: Promise<unknown>[] = [];
      const lines = (input: NodeJS.ReadableStream | null, fn: (line: string) => void) => {
        if (!input) return;
        const rl = createInterface({ input });
        rl.on("line", fn);
        closed.push(new Promise((resolve) => rl.once("close", resolve)));
      };
      lines(child.stdout, (line) => {
        if (o.onLine) o.onLine(line);
        else stdout += `${line}\n`;
        keep(line);
      });
      lines(child.stderr, keep);
      const r = await child;
      await Promise.all(closed);
      if (r.exitCode === 0) return stdout;
      if (o.signal?.aborted) throw o.signal.reason ?? new Error(`pgbackrest ${command} aborted`);
      const why = pgbackrestErrorText(tail.join("\n"));
      throw new PgbackrestError(
        `pgbackrest ${command} (stanza ${opts.stanza}) failed (exit ${r.exitCode ?? r.signal}): ${why}`,
        r.exitCode ?? null,
      );
    },
    async info(signal) {
      const out = await runner.run("info", ["--output=json", "--log-level-console=error"], { signal });
      return parseStanzaInfo(out, opts.stanza);
    },
  };
  return runner;
}
