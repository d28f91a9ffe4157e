// The initdb source with a template cache: a start copies a verified pristine cluster instead of
// running initdb, which is many times slower (bench: cold start). A missing, stale or damaged template means initdb as
// usual, and the fresh cluster is then published as the template for the next start. Any cache
// trouble (directory not creatable, damaged template, failed publish) costs time, never the start.
import * as load from "../../loading/modules.js";
import { recreateDataDir } from "../steps/prepare-pgdata.js";
import { initdbSource, runInitdb, templateKey } from "./initdb.js";
import type { SourceContext, SourceDriver, SourceResult } from "./source-driver.js";
import { type Lookup, TemplateCache } from "./template-cache.js";
import type { Owner } from "./template-cache-copy.js";
import type { TemplateKey } from "./template-cache-key.js";
import { TemplateDamagedError } from "./template-cache-manifest.js";
import type { TemplateStaging } from "./template-staging.js";

const RESULT: SourceResult = { lsn: null, confLines: [] };

async function postgresVersion(ctx: SourceContext): Promise<string> {
  const { execa } = await load.execa();
  const res = await execa(ctx.pg.postgres, ["--version"], { cancelSignal: ctx.signal });
  return res.stdout.trim();
}

function ms(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

type Found =
  | { readonly ok: true; readonly cache: TemplateCache; readonly key: TemplateKey; readonly found: Lookup }
  | { readonly ok: false; readonly summary: string; readonly error: string };

/** Opens the cache and looks the template up; failures become a message (initdb then runs). */
function findTemplate(cacheDir: string, ctx: SourceContext): Found {
  let cache: TemplateCache;
  try {
    cache = TemplateCache.open(cacheDir);
  } catch (err) {
    return {
      ok: false,
      summary: "template cache unavailable, running initdb",
      error: (err as Error).message,
    };
  }
  try {
    const key = templateKey(ctx);
    return { ok: true, cache, key, found: cache.lookup(key) };
  } catch (err) {
    return { ok: false, summary: "template cache unreadable, running initdb", error: (err as Error).message };
  }
}

/**
 * The initdb source backed by the template cache in `cacheDir`; with `staging`, a data directory
 * staged while the agent waited for its spec is renamed into place instead of copied.
 */
export function cachedInitdbSource(cacheDir: string, staging?: TemplateStaging | null): SourceDriver {
  // Looked up once per start: by warmUp while the data directory is emptied, else by prepare.
  let finding: Found | null = null;
  const find = (ctx: SourceContext): Found => {
    finding ??= findTemplate(cacheDir, ctx);
    return finding;
  };
  return {
    name: "initdb",
    warmUp(ctx) {
      find(ctx);
    },
    async prepare(ctx): Promise<SourceResult> {
      const log = ctx.log.child({ template_cache: cacheDir });
      const owner: Owner | null = ctx.osUser ? { uid: ctx.osUser.uid, gid: ctx.osUser.gid } : null;
      const lookup = find(ctx);
      if (staging) {
        const t0 = performance.now();
        const hit = lookup.ok && lookup.found.kind === "hit" ? lookup.found.template : null;
        if (lookup.ok && (await staging.take(ctx.pgdata, lookup.key, hit))) {
          ctx.record("template_staged_ms", performance.now() - t0);
          log.info(
            { staged: staging.path, duration_ms: ms(t0) },
            "data directory renamed into place from staging",
          );
          return RESULT;
        }
        staging.discard("the start did not use it");
      }
      if (!lookup.ok) {
        log.warn({ error: lookup.error }, lookup.summary);
        return initdbSource().prepare(ctx);
      }
      const { cache, key, found } = lookup;
      if (found.kind === "hit") {
        const t0 = performance.now();
        try {
          await cache.copyTo(found.template, ctx.pgdata, owner);
          ctx.record("template_copy_ms", performance.now() - t0);
          log.info(
            { template: found.template.dir, duration_ms: ms(t0) },
            "data directory copied from template",
          );
          return RESULT;
        } catch (err) {
          const damaged = err instanceof TemplateDamagedError;
          log.warn(
            { template: found.template.dir, error: (err as Error).message },
            damaged ? "template is damaged, rebuilding it" : "copy from template failed, running initdb",
          );
          if (damaged) await cache.evict(key, found.template.dirIno).catch(() => {});
          await recreateDataDir(ctx.pgdata, owner);
        }
      } else if (found.kind !== "missing") {
        log.warn(
          { template: cache.templateDir(key), reason: found.reason },
          `template is ${found.kind}, rebuilding it`,
        );
        await cache
          .evict(key, found.dirIno)
          .catch((err) => log.warn({ error: (err as Error).message }, "could not remove the old template"));
      }

      const t0 = performance.now();
      const [, version] = await Promise.all([runInitdb(ctx), postgresVersion(ctx)]);
      ctx.record("initdb_ms", performance.now() - t0);
      const t1 = performance.now();
      try {
        const published = await cache.publish(ctx.pgdata, key, version, owner);
        ctx.record("template_publish_ms", performance.now() - t1);
        log.info(
          { template: cache.templateDir(key), published, duration_ms: ms(t1) },
          published ? "template published" : "another agent published the template first",
        );
      } catch (err) {
        log.warn({ error: (err as Error).message }, "could not publish the template");
      }
      return RESULT;
    },
  };
}
