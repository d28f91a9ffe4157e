// A launch's head start on its data: with a spec file (`-S`, `-c`) whose source is initdb, the
// data directory is filled beside -D as the agent's very first act, before its modules load and
// before the spec is validated - a `cp` of the template (or, with --no-template-cache, `initdb`)
// as a child on the other core (template-staging.ts, kind `head_start`), renamed into place by
// the start. Only what that work depends on is read here: -D (already checked by the -D guard),
// the binaries, the -C superuser, the OS user, the template, and the source kind (one field of
// the spec file). The copy goes beside -D, never into it; a spec that then fails validation, a source
// other than initdb or an agent that stops first discards it (`staging.close()`), and the start
// checks it as it checks any staging. Any trouble here only means no head start.
import { readFileSync } from "node:fs";
import type { LogFn, Logger } from "pino";
import { installRoot } from "../cli/install-root.js";
import type { AgentOptions } from "../cli/options.js";
import { resolvePgBinaries } from "../postgres/binaries.js";
import { postgresOsUser } from "../postgres/os-user.js";
import { sourceKindOf } from "../spec/source-kind.js";
import type { ComputeSpecJson } from "../spec/types.js";
import { initdbSuperuser, spawnInitdb, templateKey } from "./sources/initdb.js";
import { type StagingLog, TemplateStaging } from "./sources/template-staging.js";

export interface HeadStart {
  readonly staging: TemplateStaging;
  /** The agent's logger, once it exists: what the head start logged until then goes to it. */
  attach(log: Logger): void;
}

/** The spec's source kind as its file says (null: unreadable; validation will say why). */
function specSourceKind(options: AgentOptions): string | null {
  const file = options.specPath ?? options.configPath;
  if (!file) return null;
  try {
    const json = JSON.parse(readFileSync(file, "utf8")) as { spec?: ComputeSpecJson } & ComputeSpecJson;
    const spec = options.specPath ? json : json.spec;
    return spec ? sourceKindOf(spec) : null;
  } catch {
    return null;
  }
}

/** Log lines kept until the logger exists. */
function laterLog(): { log: StagingLog; attach(log: Logger): void } {
  let target: StagingLog | null = null;
  const kept: [keyof StagingLog, object, string | undefined][] = [];
  const method = (level: keyof StagingLog) =>
    ((obj: object, msg?: string) => {
      if (target) target[level](obj, msg);
      else kept.push([level, obj, msg]);
    }) as LogFn;
  return {
    log: { info: method("info"), warn: method("warn") },
    attach(log) {
      target = log;
      for (const [level, obj, msg] of kept.splice(0)) log[level](obj, msg);
    },
  };
}

export function startHeadStart(options: AgentOptions): HeadStart | null {
  if (specSourceKind(options) !== "initdb") return null;
  let staging: TemplateStaging;
  const later = laterLog();
  try {
    const pg = resolvePgBinaries({
      pgbin: options.pgbin,
      pgbinFrom: options.pgbinFrom ?? undefined,
      npmFrom: installRoot(),
    });
    const osUser = postgresOsUser(options.pgUser);
    staging = new TemplateStaging({
      pgdata: options.pgdata,
      cacheDir: options.cacheDir,
      guard: options,
      osUser,
      log: later.log,
      templateKey: () => templateKey({ connstr: options.connstr, osUser, pg }),
      initdb: (dir, signal) =>
        spawnInitdb({ pg, osUser, superuser: initdbSuperuser(options), pgdata: dir, signal }),
    });
  } catch {
    return null; // the agent reports it where it resolves the same
  }
  staging.start("head_start");
  return { staging, attach: (log) => later.attach(log.child({ component: "staging" })) };
}
