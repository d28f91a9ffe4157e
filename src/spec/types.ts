// Types of the validated, immutable spec the rest of the agent works from.
import type * as v from "valibot";
import type {
  ArchiveSourceSchema,
  ComputeConfigSchema,
  ComputeCtlConfigSchema,
  ComputeSpecSchema,
  DatabaseSchema,
  DeltaOpSchema,
  GenericOptionSchema,
  LocalProxySpecSchema,
  PageserverConnectionInfoSchema,
  RoleSchema,
} from "./schema.js";

export type GenericOption = v.InferOutput<typeof GenericOptionSchema>;
export type Role = v.InferOutput<typeof RoleSchema>;
export type Database = v.InferOutput<typeof DatabaseSchema>;
export type DeltaOp = v.InferOutput<typeof DeltaOpSchema>;
export type PageserverConnectionInfo = v.InferOutput<typeof PageserverConnectionInfoSchema>;
export type ComputeSpecJson = v.InferOutput<typeof ComputeSpecSchema>;
export type ComputeCtlConfig = v.InferOutput<typeof ComputeCtlConfigSchema>;
export type ComputeConfigJson = v.InferOutput<typeof ComputeConfigSchema>;
export type ArchiveSourceJson = v.InferOutput<typeof ArchiveSourceSchema>;
export type ArchiveRepoJson = ArchiveSourceJson["repo"];

/** Where a point-in-time recovery stops (Static mode of the archive source). */
export type RecoveryTarget = { kind: "lsn"; lsn: string } | { kind: "time"; time: string };
export type LocalProxySpec = v.InferOutput<typeof LocalProxySpecSchema>;

/** How the compute runs: read-write primary, following replica, or read-only at a fixed LSN. */
export type ComputeMode = { kind: "primary" } | { kind: "replica" } | { kind: "static"; lsn: string };

/** Where the data directory's contents come from. */
export type DataSource =
  | { kind: "initdb" }
  | { kind: "primary"; connstring: string; slotName: string | null }
  | { kind: "neon" }
  | {
      kind: "archive";
      /** The `source` object as validated (stanza, repo, policies). */
      archive: ArchiveSourceJson;
      /** Static mode: where recovery stops; null for Primary and Replica. */
      target: RecoveryTarget | null;
    };

/** A spec that passed validation: the JSON as given plus the resolved mode and source. */
export interface ComputeSpec {
  readonly json: ComputeSpecJson;
  readonly mode: ComputeMode;
  readonly source: DataSource;
}
