// Live reconfiguration of a running compute: rewrite postgresql.conf, have Postgres validate it,
// reload, and apply the new spec's roles/databases without a restart. `running` ->
// `configuration_pending` -> `configuration` -> `running`, whatever happens: a reconfiguration
// that fails (Postgres rejects the new file, the spec conflicts with the catalog) puts the
// previous postgresql.conf back, reloads it, and throws the reason to the caller; the compute
// keeps running and manageable. (Roles or databases a failed apply already changed stay changed:
// the spec apply is idempotent, so sending a corrected spec converges.)
import { execFile } from "node:child_process";
import { applySpecToPostgres } from "../apply/apply-spec-to-postgres.js";
import { errorText } from "../errors/error-text.js";
import { OperationError } from "../errors/operation-error.js";
import * as load from "../loading/modules.js";
import { asUser } from "../postgres/os-user.js";
import { PlanError } from "../reconcile/plan-error.js";
import type { ComputeCtlConfig, ComputeSpec } from "../spec/types.js";
import type { CertificatePair } from "../tls/certificate-pair.js";
import { postgresTlsFiles } from "../tls/postgres-tls-conf.js";
import { acceptSpec } from "./accept-spec.js";
import type { ComputeRuntime } from "./compute-runtime.js";
import { followPostgresTls } from "./start-compute.js";

/** Postgres's own complaints from `postgres -C`: its LOG/FATAL lines without the prefix. */
function rejection(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => /(?:LOG|FATAL|ERROR|DETAIL):\s+(.*)$/.exec(l)?.[1])
    .filter((l): l is string => Boolean(l));
  return (lines.length ? lines : [stderr.trim()]).join("; ").slice(0, 2000);
}

/**
 * Loads the data directory's configuration the way a start would (`postgres -C`, which parses
 * and validates every setting and exits): resolves if Postgres accepts it, throws its reason.
 * Checked before the reload, so a rejected file never half-applies.
 */
function checkConfiguration(rt: ComputeRuntime): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      rt.pg.postgres,
      ["-D", rt.options.pgdata, "-C", "config_file"],
      { ...asUser(rt.osUser), timeout: 30_000, env: { ...process.env, LC_MESSAGES: "C" } },
      (err, _stdout, stderr) => {
        if (!err) return resolve();
        reject(
          new OperationError(
            "invalid_argument",
            `Postgres rejected the new postgresql.conf (the previous one is back): ${rejection(stderr)}`,
          ),
        );
      },
    );
  });
}

function failure(err: unknown): OperationError {
  if (err instanceof OperationError) return err;
  if (err instanceof PlanError) {
    const at = err.path === null ? "" : ` at $.${err.path}`;
    return new OperationError("invalid_argument", `invalid spec${at}: ${errorText(err)}`, { cause: err });
  }
  return new OperationError(
    "internal",
    `compute reconfiguration failed (the previous postgresql.conf is back, the compute keeps running): ${errorText(err)}`,
    { cause: err },
  );
}

/**
 * Postgres TLS for the new spec (the tls_experimental feature may come or go): on and already
 * followed, nothing to do; newly on, the files are waited for and installed as at start (a
 * `pair` to follow once the reconfiguration succeeded); off, `ssl` goes.
 */
async function postgresTlsFor(
  rt: ComputeRuntime,
  spec: ComputeSpec,
  log: ComputeRuntime["log"],
): Promise<{ ssl: boolean; pair: CertificatePair | null }> {
  const files = postgresTlsFiles(spec.json, rt.computeCtlConfig);
  if (!files) return { ssl: false, pair: null };
  if (rt.tlsCertificates.has("postgres")) return { ssl: true, pair: null };
  const { installPostgresCertificate, waitForCertificatePair } = await load.postgresTls();
  const pair = await waitForCertificatePair(files, {
    timeoutMs: rt.options.pgTlsWaitS * 1000,
    signal: rt.shutdown.signal,
    log: log.child({ component: "postgres_tls" }),
  });
  installPostgresCertificate(pair, rt.options.pgdata, rt.osUser);
  return { ssl: true, pair };
}

export async function reconfigureCompute(
  rt: ComputeRuntime,
  spec: ComputeSpec,
  requestConfig?: ComputeCtlConfig,
): Promise<void> {
  const log = rt.log.child({ operation: "reconfigure" });
  log.info({ operation_uuid: spec.json.operation_uuid }, "reconfiguring compute");
  try {
    rt.state.transition("configuration_pending");
    rt.state.transition("configuration");
    const t0 = performance.now();
    // The data source stays what it was; mode and source changes need a restart (or /promote).
    const effective: ComputeSpec = Object.freeze({
      ...spec,
      mode: rt.spec?.mode ?? spec.mode,
      source: rt.spec?.source ?? spec.source,
    });
    const ignored = acceptSpec(rt, effective, { viaApi: true, computeCtlConfig: requestConfig, log });
    void rt.sidecars.apply(effective.json, postgresTlsFiles(effective.json, rt.computeCtlConfig));
    const tls = await postgresTlsFor(rt, effective, log);
    await applySpecToPostgres(rt, effective, {
      config: {
        sourceLines: rt.sourceConfLines,
        ssl: tls.ssl,
        check: () => checkConfiguration(rt),
        restoreOnFailure: true,
      },
      concurrency: effective.json.reconfigure_concurrency,
      applicationName: "compute_ctl:reconfigure",
      log,
    });
    rt.adoptSpec({ spec: effective, ignored });
    if (tls.pair) await followPostgresTls(rt, tls.pair);
    else if (!tls.ssl) {
      rt.tlsCertificates.get("postgres")?.close();
      rt.tlsCertificates.delete("postgres");
    }
    log.info({ duration_ms: Math.round(performance.now() - t0) }, "compute reconfigured");
    rt.state.tryTransition("running");
  } catch (err) {
    const error = failure(err);
    log.error({ error: error.message }, "reconfiguration failed; previous configuration restored");
    // Still running (unless a terminate came meanwhile, which then owns the status).
    rt.state.tryTransition("running");
    throw error;
  }
}
