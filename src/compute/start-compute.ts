// Runs the start pipeline for a spec and moves the state machine: `init` -> `running` | `failed`
// (a spec at launch starts from `empty`, one from the API from `configuration_pending`, as in
// Neon). Also attaches supervision to the postmaster as soon as it runs.

import type { Logger } from "pino";
import { errorText } from "../errors/error-text.js";
import { loadAhead } from "../loading/load-ahead.js";
import * as load from "../loading/modules.js";
import type { ComputeCtlConfig, ComputeSpec } from "../spec/types.js";
import { planStartup, type StartupPlan } from "../startup/plan-startup.js";
import type { StartupContext, StartupProducts } from "../startup/startup-context.js";
import { sourceContext } from "../startup/steps/fetch-data.js";
import { runSteps } from "../startup/steps/step.js";
import type { CertificateFiles, CertificatePair } from "../tls/certificate-pair.js";
import { postgresTlsFiles } from "../tls/postgres-tls-conf.js";
import { acceptSpec } from "./accept-spec.js";
import type { ComputeRun, ComputeRuntime } from "./compute-runtime.js";
import { supervisePostmaster } from "./supervise-postmaster.js";

/** From now on a rotation of Postgres's certificate files is copied in and Postgres reloads. */
export async function followPostgresTls(rt: ComputeRuntime, initial: CertificatePair): Promise<void> {
  const { followPostgresCertificate } = await load.postgresTls();
  rt.tlsCertificates.get("postgres")?.close();
  const certificate = followPostgresCertificate({
    initial,
    pgdata: rt.options.pgdata,
    osUser: rt.osUser,
    log: rt.log.child({ component: "postgres_tls" }),
    intervalMs: rt.options.tlsRecheckS * 1000,
    reload: () => {
      if (!rt.postmaster?.running) return;
      rt.postmaster.signal("SIGHUP");
      rt.log.info("Postgres reloads its configuration for the new TLS certificate");
    },
  });
  rt.tlsCertificates.set("postgres", certificate);
}

export function startCompute(
  rt: ComputeRuntime,
  spec: ComputeSpec,
  via: "launch" | "api",
  /** compute_ctl_config of the /configure request (the launch config's for "launch"). */
  requestConfig?: ComputeCtlConfig,
): Promise<void> {
  const log = rt.log.child({ operation: "start" });
  const ignored = acceptSpec(rt, spec, { viaApi: via === "api", computeCtlConfig: requestConfig, log });
  // The source's postgresql.conf lines are known once it has run (runPipeline).
  rt.adoptSpec({ spec, ignored, sourceConfLines: [] });
  rt.timings.resetForStart();
  rt.state.transition("init");
  // Postgres TLS from the launch config's compute_ctl_config.tls (as in Neon, never a request's).
  const tlsFiles = postgresTlsFiles(spec.json, rt.computeCtlConfig);
  // pgbouncer and local_proxy do not wait for Postgres, nor Postgres for them (as in Neon).
  void rt.sidecars.apply(spec.json, tlsFiles);
  log.info(
    {
      via,
      source: spec.source.kind,
      mode: spec.mode.kind,
      operation_uuid: spec.json.operation_uuid,
      project: spec.json.project_id,
      branch: spec.json.branch_id,
      endpoint: spec.json.endpoint_id,
      tenant: spec.json.tenant_id,
      timeline: spec.json.timeline_id,
      features: spec.json.features,
    },
    "starting compute",
  );
  const plan = planStartup(spec, rt.sources, { postgresTls: tlsFiles !== null });
  // What this start brings up, one record replaced as a whole: the source now, the postmaster
  // once start_postgres produced it, the pipeline until it has ended.
  let run: ComputeRun = { source: plan.source, postmaster: null, starting: null };
  const update = (next: Partial<ComputeRun>) => {
    run = { ...run, ...next };
    rt.attach(run);
  };
  const starting = runPipeline(rt, plan, { spec, log, tlsFiles, update }).finally(() =>
    update({ starting: null }),
  );
  update({ starting });
  return starting;
}

async function runPipeline(
  rt: ComputeRuntime,
  plan: StartupPlan,
  opts: {
    spec: ComputeSpec;
    log: Logger;
    tlsFiles: CertificateFiles | null;
    update(next: Partial<ComputeRun>): void;
  },
): Promise<void> {
  const { spec, log } = opts;
  // --pg-init-timeout: the whole start, Postgres's readiness included, must fit in it.
  const budgetS = rt.options.pgInitTimeoutS;
  const deadline = budgetS === null ? null : Date.now() + budgetS * 1000;
  const ctx: StartupContext = {
    spec,
    options: rt.options,
    pg: rt.pg,
    osUser: rt.osUser,
    log,
    agentLog: rt.log,
    signal: rt.shutdown.signal,
    source: plan.source,
    remoteExtensions: rt.remoteExt,
    postgresTlsFiles: opts.tlsFiles,
    deadline,
    record: (name, value) => rt.timings.record(name, value),
    progress: (phase) => rt.state.beginProgress(phase),
    happened: (event) => loadAhead({ kind: event, spec }),
  };
  // Time from the start of this start (agent exec, or the spec's arrival) to the first step; the
  // steps are timed on from here, so agent_start_ms and the steps add up to total_startup_ms.
  const stepsFrom = performance.now();
  const agentStartMs = Date.now() - rt.state.snapshot.startTime.getTime();
  rt.timings.record("agent_start_ms", agentStartMs);
  // Independent of the data directory: overlaps emptying it.
  plan.source.warmUp?.(sourceContext(ctx));
  let timer: NodeJS.Timeout | undefined;
  let ran: { end: number; produced: Readonly<Partial<StartupProducts>> };
  try {
    const steps = runSteps(plan.steps, ctx, {
      log,
      record: ctx.record,
      from: stepsFrom,
      signal: ctx.signal,
      // Termination and /startupz reach the postmaster as soon as it runs, even if a later step fails.
      produced: ({ postmaster }) => {
        if (!postmaster) return;
        opts.update({ postmaster });
        supervisePostmaster(rt, postmaster);
      },
    });
    if (budgetS !== null) {
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the compute did not reach running within --pg-init-timeout ${budgetS} s`)),
          budgetS * 1000,
        );
      });
      steps.catch(() => {}); // reported by the race below, or after the timeout by runSteps' log
      ran = await Promise.race([steps, timedOut]);
    } else {
      ran = await steps;
    }
    // From now on a rotation of Postgres's certificate files is followed.
    if (ran.produced.postgresTlsPair) await followPostgresTls(rt, ran.produced.postgresTlsPair);
  } catch (err) {
    const text = errorText(err);
    // Terminated meanwhile: the terminate owns the status from here.
    if (rt.state.tryTransition("failed", { error: text })) {
      log.error({ error: text }, "compute start failed");
      rt.requestExit(1, "grace");
      // Nothing half-started stays up for the grace period (Neon: SIGQUIT to a running Postgres;
      // here the ladder from SIGQUIT, which a terminate or the agent's exit then shares).
      void rt.postmaster?.shutdown("immediate");
    } else {
      log.info({ error: text }, "compute start ended by termination");
    }
    return;
  } finally {
    clearTimeout(timer);
  }
  // The start's results, kept for later rewrites of postgresql.conf (reconfigure).
  rt.adoptSpec({ spec, sourceConfLines: ran.produced.sourceResult?.confLines ?? [] });
  rt.timings.record("total_startup_ms", agentStartMs + (ran.end - stepsFrom));
  if (rt.state.tryTransition("running")) log.info({ metrics: rt.timings.toJSON() }, "compute start finished");
}
