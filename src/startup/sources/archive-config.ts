// What the archive source tells pgBackRest and Postgres, as pure functions of the spec: the
// pgBackRest config file (the spec's repository mapped onto `repo1-*` options), the
// archive_command / restore_command that point pgbackrest at that file, and the postgresql.conf
// lines of each mode. Nothing from a spec string reaches the file or a shell unchecked: the schema
// limits stanza names and paths, every value is refused if it would break a line, and every
// word of a shell command is single-quoted.
import path from "node:path";
import { quoteConfValue } from "../../postgres/quote.js";
import { hasControlChars } from "../../spec/schema.js";
import type { ArchiveSourceJson, ComputeMode, RecoveryTarget } from "../../spec/types.js";

/** The files and directories pgBackRest uses, all inside the agent's runtime directory. */
export interface PgbackrestPaths {
  /** `<runtime-dir>/pgbackrest`: 0700, owned by the user pgbackrest runs as. */
  readonly dir: string;
  readonly config: string;
  readonly lock: string;
  readonly spool: string;
  readonly log: string;
  /** Postgres's Unix socket directory when the `-C` URL names none (pgbackrest needs a socket). */
  readonly socket: string;
}

export function pgbackrestPaths(runtimeDir: string): PgbackrestPaths {
  const dir = path.join(runtimeDir, "pgbackrest");
  return {
    dir,
    config: path.join(dir, "pgbackrest.conf"),
    lock: path.join(dir, "lock"),
    spool: path.join(dir, "spool"),
    log: path.join(dir, "log"),
    socket: path.join(dir, "socket"),
  };
}

/** How pgbackrest reaches the local Postgres (backup, stanza-create, check). */
export interface PgEndpoint {
  readonly pgdata: string;
  readonly port: number;
  readonly socketDir: string;
  readonly user: string;
  readonly database: string;
}

/** S3 secrets resolved from their references (environment or file). */
export interface S3Secrets {
  readonly key: string;
  readonly secret: string;
  readonly token: string | null;
}

export class ArchiveConfigError extends Error {
  override readonly name = "ArchiveConfigError";
}

/** A config value must stay on its line: no control characters, no surrounding blanks. */
function confValue(option: string, value: string | number): string {
  const text = String(value);
  if (hasControlChars(text) || text !== text.trim() || text === "") {
    throw new ArchiveConfigError(`pgBackRest option ${option}: value is empty or has control characters`);
  }
  return text;
}

/** The `repo1-*` options of the spec's repository (without secrets). */
export function repoOptions(archive: ArchiveSourceJson): [string, string | number][] {
  const repo = archive.repo;
  const out: [string, string | number][] = [];
  if (repo.type === "posix") {
    out.push(["repo1-type", "posix"], ["repo1-path", repo.path]);
  } else {
    out.push(
      ["repo1-type", "s3"],
      ["repo1-path", repo.path],
      ["repo1-s3-bucket", repo.bucket],
      ["repo1-s3-endpoint", repo.endpoint],
      ["repo1-s3-region", repo.region],
      ["repo1-s3-uri-style", repo.uri_style],
    );
    if (repo.port != null) out.push(["repo1-storage-port", repo.port]);
    if (!repo.verify_tls) out.push(["repo1-storage-verify-tls", "n"]);
    if (repo.ca_file != null) out.push(["repo1-storage-ca-file", repo.ca_file]);
    out.push(["repo1-s3-key-type", "shared"]);
  }
  const r = archive.retention;
  out.push(["repo1-retention-full", r.full], ["repo1-retention-full-type", r.full_type]);
  if (r.diff != null) out.push(["repo1-retention-diff", r.diff]);
  if (r.archive != null) out.push(["repo1-retention-archive", r.archive]);
  if (r.archive_type != null) out.push(["repo1-retention-archive-type", r.archive_type]);
  return out;
}

/** The whole config file: [global] (repository, paths, behaviour) and the stanza's pg1-*. */
export function renderPgbackrestConf(
  archive: ArchiveSourceJson,
  paths: PgbackrestPaths,
  pg: PgEndpoint,
  secrets: S3Secrets | null,
): string {
  const global: [string, string | number][] = [
    ...repoOptions(archive),
    ["lock-path", paths.lock],
    ["spool-path", paths.spool],
    ["log-path", paths.log],
    // archive-push/-get run by Postgres log to its stderr (the agent's log): warnings only.
    ["log-level-console", "warn"],
    ["log-level-stderr", "off"],
    ["log-level-file", "off"],
    // Asynchronous, parallel push and prefetching get (the spool directory is ours).
    ["archive-async", "y"],
    ["process-max", 2],
    ["compress-type", "lz4"],
    ["start-fast", "y"],
    ["archive-timeout", 120],
  ];
  if (secrets) {
    global.push(["repo1-s3-key", secrets.key], ["repo1-s3-key-secret", secrets.secret]);
    if (secrets.token) global.push(["repo1-s3-token", secrets.token]);
  }
  const stanza: [string, string | number][] = [
    ["pg1-path", pg.pgdata],
    ["pg1-port", pg.port],
    ["pg1-socket-path", pg.socketDir],
    ["pg1-user", pg.user],
    ["pg1-database", pg.database],
  ];
  const lines = (opts: [string, string | number][]) => opts.map(([k, v]) => `${k}=${confValue(k, v)}`);
  return [
    "# Written by compute_ctl for this compute; rewritten on every start.",
    "[global]",
    ...lines(global),
    "",
    `[${archive.stanza}]`,
    ...lines(stanza),
    "",
  ].join("\n");
}

/** One shell word: single-quoted, `'` spelled `'\''`. */
export function shellWord(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** `pgbackrest --config=... --stanza=...` as a shell command prefix. */
export function pgbackrestCommand(exe: string, configFile: string, stanza: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(stanza))
    throw new ArchiveConfigError(`invalid stanza ${stanza}`);
  return `${shellWord(exe)} ${shellWord(`--config=${configFile}`)} --stanza=${stanza}`;
}

export function archiveCommand(exe: string, configFile: string, stanza: string): string {
  return `${pgbackrestCommand(exe, configFile, stanza)} archive-push "%p"`;
}

export function restoreCommand(exe: string, configFile: string, stanza: string): string {
  return `${pgbackrestCommand(exe, configFile, stanza)} archive-get %f "%p"`;
}

export interface ArchiveConfInput {
  readonly archive: ArchiveSourceJson;
  readonly mode: ComputeMode;
  readonly target: RecoveryTarget | null;
  readonly exe: string;
  readonly configFile: string;
  /** Our own socket directory, when the `-C` URL gives Postgres none. */
  readonly socketDir: string | null;
}

/** The postgresql.conf lines of the archive source for the compute's mode. */
export function archiveConfLines(input: ArchiveConfInput): string[] {
  const { archive, mode, exe, configFile } = input;
  const lines: string[] = [];
  if (input.socketDir) lines.push(`unix_socket_directories = ${quoteConfValue(input.socketDir)}`);
  lines.push(
    `restore_command = ${quoteConfValue(restoreCommand(exe, configFile, archive.stanza))}`,
    "recovery_target_timeline = 'latest'",
    // Recovery is watched (and a primary promoted) through SQL while it runs.
    "hot_standby = on",
  );
  if (mode.kind === "primary") {
    lines.push(
      "archive_mode = on",
      `archive_command = ${quoteConfValue(archiveCommand(exe, configFile, archive.stanza))}`,
      `archive_timeout = ${archive.archive_timeout_seconds}`,
    );
  } else if (mode.kind === "replica") {
    if (archive.primary_conninfo)
      lines.push(`primary_conninfo = ${quoteConfValue(archive.primary_conninfo)}`);
  } else {
    const t = input.target;
    if (!t) throw new ArchiveConfigError("a static compute needs a recovery target");
    lines.push(
      t.kind === "lsn"
        ? `recovery_target_lsn = ${quoteConfValue(t.lsn)}`
        : `recovery_target_time = ${quoteConfValue(t.time)}`,
      "recovery_target_inclusive = on",
      "recovery_target_action = 'pause'",
    );
  }
  return lines;
}
