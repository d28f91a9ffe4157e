// From a validated spec to the list of start steps and the data source that feeds them.
import type { ComputeSpec } from "../spec/types.js";
import type { SourceDriver } from "./sources/source-driver.js";
import type { StartupStep } from "./startup-context.js";
import { applySpecStep } from "./steps/apply-spec.js";
import { remoteExtensionsStep } from "./steps/download-extensions.js";
import { dropSubscriptionsStep, subscriptionDropWay } from "./steps/drop-subscriptions.js";
import { fetchDataStep } from "./steps/fetch-data.js";
import { postgresTlsStep } from "./steps/postgres-tls.js";
import { preparePgdataStep } from "./steps/prepare-pgdata.js";
import { sourceReadyStep } from "./steps/source-ready.js";
import { startPostgresStep } from "./steps/start-postgres.js";
import { writeConfigStep } from "./steps/write-config.js";

export interface StartupPlan {
  readonly source: SourceDriver;
  readonly steps: readonly StartupStep[];
}

export interface SourceFactories {
  initdb(): SourceDriver;
  primary(): SourceDriver;
  neon(): SourceDriver;
  archive(): SourceDriver;
}

export interface PlanOptions {
  /** Postgres TLS is on: its certificate files are waited for and installed before write_config. */
  postgresTls?: boolean;
}

export function planStartup(
  spec: ComputeSpec,
  sources: SourceFactories,
  opts: PlanOptions = {},
): StartupPlan {
  const source = sources[spec.source.kind]();
  // Control files and preloaded libraries must be in place before Postgres starts.
  const extensions = spec.json.remote_extensions ? [remoteExtensionsStep] : [];
  const privateDrop = subscriptionDropWay(spec) === "private_postgres" ? [dropSubscriptionsStep] : [];
  return {
    source,
    steps: [
      preparePgdataStep,
      fetchDataStep,
      ...(opts.postgresTls ? [postgresTlsStep] : []),
      writeConfigStep,
      ...extensions,
      ...privateDrop,
      startPostgresStep,
      ...(source.afterStart ? [sourceReadyStep] : []),
      applySpecStep,
    ],
  };
}
