// A stand-in for Neon's `postgres --sync-safekeepers`: a shell script used as the `postgres`
// binary. With `--sync-safekeepers` it records its environment, fails the first N runs, then
// prints an LSN on stdout as the real one does; with anything else it runs the real postgres.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { PgBinaries } from "../../src/postgres/binaries.js";
import { pgBinaries, tempDir } from "./postgres.js";

export interface FakeSyncSafekeepersOptions {
  /** What a successful run prints. */
  readonly lsn: string;
  /** The first N runs exit 1 with an error on stderr. */
  readonly failFirst?: number;
}

export interface FakeSyncSafekeepers {
  /** Binaries whose `postgres` is the stand-in (the other tools are the real ones). */
  readonly binaries: PgBinaries;
  /** One entry per `--sync-safekeepers` run: PGDATA and whether NEON_AUTH_TOKEN matched. */
  runs(): { pgdata: string; token: string }[];
  cleanup(): void;
}

const shq = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

export function makeFakeSyncSafekeepers(opts: FakeSyncSafekeepersOptions): FakeSyncSafekeepers {
  const dir = tempDir("cct-sks-");
  const script = path.join(dir, "postgres");
  const log = path.join(dir, "runs.log");
  writeFileSync(
    script,
    `#!/bin/sh
# stand-in for Neon's postgres --sync-safekeepers (test/support/fake-sync-safekeepers.ts)
if [ "$1" != "--sync-safekeepers" ]; then exec ${shq(pgBinaries.postgres)} "$@"; fi
printf '%s\\t%s\\n' "$PGDATA" "$NEON_AUTH_TOKEN" >> ${shq(log)}
n=$(wc -l < ${shq(log)})
if [ "$n" -le ${opts.failFirst ?? 0} ]; then
  echo "FATAL:  could not reach a quorum of safekeepers (injected failure $n)" >&2
  exit 1
fi
echo "sync-safekeepers: agreed on ${opts.lsn}" >&2
echo ${shq(opts.lsn)}
`,
  );
  chmodSync(script, 0o755);
  writeFileSync(log, "");
  chmodSync(log, 0o666);
  return {
    binaries: { bindir: pgBinaries.bindir, postgres: script, source: "--pgbin", tool: pgBinaries.tool },
    runs: () =>
      existsSync(log)
        ? readFileSync(log, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((l) => {
              const [pgdata, token] = l.split("\t");
              return { pgdata, token };
            })
        : [],
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
