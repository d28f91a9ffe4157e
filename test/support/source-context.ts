// A SourceContext for calling a data source directly in tests: an empty data dir as the pipeline
// makes it, the test Postgres binaries and OS user, a silent logger, and a record of metrics.
import { rmSync } from "node:fs";
import pino from "pino";
import type { PgBinaries } from "../../src/postgres/binaries.js";
import { parseSpec } from "../../src/spec/parse.js";
import type { SourceContext } from "../../src/startup/sources/source-driver.js";
import type { ProgressUpdate } from "../../src/state/progress.js";
import { emptyPgdata } from "./compute-postgres.js";
import { pgBinaries, pgOsUser } from "./postgres.js";

export interface TestSourceContext extends SourceContext {
  readonly metrics: Map<string, number>;
  /** Every progress figure the source reported, in order, by phase; `ended` once it called end(). */
  readonly progressReports: { phase: string; updates: ProgressUpdate[]; ended: boolean }[];
  readonly abort: AbortController;
  cleanup(): void;
}

/** A minimal valid spec JSON; `extra` is merged at the top level. */
export function specJson(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    format_version: 1.0,
    cluster: { roles: [], databases: [] },
    suspend_timeout_seconds: -1,
    ...extra,
  };
}

export function testSourceContext(
  spec: Record<string, unknown>,
  pg: PgBinaries = pgBinaries,
): TestSourceContext {
  const { root, pgdata } = emptyPgdata();
  const metrics = new Map<string, number>();
  const abort = new AbortController();
  const progressReports: TestSourceContext["progressReports"] = [];
  return {
    pgdata,
    spec: parseSpec(spec),
    pg,
    osUser: pgOsUser,
    connstr: "postgresql://postgres@127.0.0.1:5432/postgres",
    log: pino({ level: process.env.TEST_LOG ?? "silent" }),
    signal: abort.signal,
    record: (name, value) => metrics.set(name, value),
    progress(phase) {
      const report = { phase, updates: [] as ProgressUpdate[], ended: false };
      progressReports.push(report);
      let bytes = 0;
      let files = 0;
      return {
        update: (u) => report.updates.push({ ...u }),
        addBytes: (n) => {
          bytes += n;
          report.updates.push({ bytesDone: bytes });
        },
        addFile: () => {
          files++;
          report.updates.push({ filesDone: files });
        },
        end: () => {
          report.ended = true;
        },
      };
    },
    progressReports,
    runtimeDir: `${pgdata}.run`,
    computeId: null,
    metrics,
    abort,
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
