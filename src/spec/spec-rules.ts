// The rules a spec must meet that its JSON shape alone does not say, checked by the parser so a
// spec that would fail half-way through applying it is refused before anything is touched, with
// the JSON path at fault: names Postgres would truncate or cannot store, duplicates, renames that
// contradict the spec, deleting what the agent itself depends on, password hashes Postgres would
// take for plain text, option and setting values, and values that must stay on one line of
// postgresql.conf. What only the catalog can tell (a rename onto a role that exists) is left to
// the reconciler, whose failure a live reconfiguration survives (reconfigure-compute.ts).
import { OptionError, renderOption } from "../reconcile/sql-options.js";
import { checkConfText, checkSetting } from "./setting-rules.js";
import { SpecError } from "./spec-error.js";
import type { ComputeSpecJson, DeltaOp, GenericOption } from "./types.js";

/** What the agent's own launch flags protect: its superuser and the users' privileged role. */
export interface SpecAgentContext {
  /** The `-C` user: the bootstrap superuser the agent connects as. */
  superuser: string;
  /** `--privileged-role-name`. */
  privilegedRole: string;
}

/** NAMEDATALEN - 1: Postgres truncates longer names, which would never match the spec again. */
export const MAX_IDENT_BYTES = 63;
/** Databases the agent and Postgres itself need. */
const PROTECTED_DATABASES = ["postgres", "template0", "template1"];
const MD5_HASH = /^(md5)?[0-9a-fA-F]{32}$/;
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, base64 parts (parse_scram_secret).
const SCRAM_VERIFIER =
  /^SCRAM-SHA-256\$[1-9][0-9]{0,9}:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$/;

/** NUL bytes anywhere (Postgres text cannot hold them) and non-finite numbers (gRPC doubles). */
function checkScalars(value: unknown, path: string): void {
  if (typeof value === "string") {
    if (value.includes("\0")) throw new SpecError(path, "contains a NUL byte");
  } else if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new SpecError(path, `expected a finite number, got ${value}`);
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkScalars(value[i], `${path}[${i}]`);
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) checkScalars(v, `${path}.${k}`);
  }
}

function checkIdent(path: string, name: string): void {
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > MAX_IDENT_BYTES) {
    throw new SpecError(path, `name is ${bytes} bytes; Postgres names are at most ${MAX_IDENT_BYTES} bytes`);
  }
}

function checkUnique(items: readonly { name: string }[], path: string, what: string): void {
  const first = new Map<string, number>();
  items.forEach((item, i) => {
    const seen = first.get(item.name);
    if (seen !== undefined) {
      throw new SpecError(
        `${path}[${i}].name`,
        `duplicate ${what} ${JSON.stringify(item.name)} (also at [${seen}])`,
      );
    }
    first.set(item.name, i);
  });
}

function checkOptions(options: readonly GenericOption[] | null | undefined, path: string): void {
  (options ?? []).forEach((opt, j) => {
    try {
      renderOption(opt);
    } catch (err) {
      if (err instanceof OptionError) throw new SpecError(`${path}[${j}]`, err.message);
      throw err;
    }
  });
}

function checkPassword(path: string, password: string | null | undefined): void {
  if (password == null) return;
  if (MD5_HASH.test(password) || SCRAM_VERIFIER.test(password)) return;
  // Postgres would store anything else as a plain-text password (hashing it itself).
  throw new SpecError(
    path,
    "expected an md5 hash (32 hex digits) or a SCRAM-SHA-256 verifier, not a plain-text password",
  );
}

const RENAMES = { rename_role: "role", rename_db: "database" } as const;
const DELETES = { delete_role: "role", delete_db: "database" } as const;

function checkDeltas(json: ComputeSpecJson, prefix: string, agent: SpecAgentContext | undefined): void {
  const deltas: readonly DeltaOp[] = json.delta_operations ?? [];
  const listed = {
    role: new Set(json.cluster.roles.map((r) => r.name)),
    database: new Set(json.cluster.databases.map((d) => d.name)),
  };
  const protectedNames = {
    role: new Set(agent ? [agent.superuser, agent.privilegedRole] : []),
    database: new Set(PROTECTED_DATABASES),
  };
  const renamedOnto = new Map<string, number>();
  deltas.forEach((op, i) => {
    const at = `${prefix}.delta_operations[${i}]`;
    checkIdent(`${at}.name`, op.name);
    const kind =
      op.action in RENAMES
        ? RENAMES[op.action as keyof typeof RENAMES]
        : DELETES[op.action as keyof typeof DELETES];
    if (protectedNames[kind].has(op.name)) {
      throw new SpecError(
        `${at}.name`,
        `${op.action} of ${JSON.stringify(op.name)}: the agent ${kind === "role" ? "connects as or manages this role" : "needs this database"}`,
      );
    }
    if (!(op.action in RENAMES)) return;
    if (!op.new_name) throw new SpecError(`${at}.new_name`, `${op.action} needs a new_name`);
    checkIdent(`${at}.new_name`, op.new_name);
    if (op.name === op.new_name) return;
    const key = `${kind}:${op.new_name}`;
    const earlier = renamedOnto.get(key);
    if (earlier !== undefined) {
      throw new SpecError(
        `${at}.new_name`,
        `${JSON.stringify(op.new_name)} is already the new name of delta_operations[${earlier}]`,
      );
    }
    renamedOnto.set(key, i);
    // The spec lists the old and the new name as two objects: the rename contradicts it.
    if (listed[kind].has(op.name) && listed[kind].has(op.new_name)) {
      throw new SpecError(
        `${at}.new_name`,
        `renames ${kind} ${JSON.stringify(op.name)} onto ${JSON.stringify(op.new_name)}, but the spec lists both`,
      );
    }
  });
}

function checkConfBound(json: ComputeSpecJson, prefix: string): void {
  for (const key of [
    "tenant_id",
    "timeline_id",
    "project_id",
    "branch_id",
    "endpoint_id",
    "pageserver_connstring",
  ] as const) {
    const v = json[key];
    if (v != null) checkConfText(`${prefix}.${key}`, v);
  }
  json.safekeeper_connstrings.forEach((s, i) => {
    checkConfText(`${prefix}.safekeeper_connstrings[${i}]`, s);
  });
  const shards = json.pageserver_connection_info?.shards ?? {};
  for (const [key, shard] of Object.entries(shards)) {
    shard.pageservers.forEach((ps, i) => {
      const at = `${prefix}.pageserver_connection_info.shards.${key}.pageservers[${i}]`;
      if (ps.libpq_url != null) checkConfText(`${at}.libpq_url`, ps.libpq_url);
      if (ps.grpc_url != null) checkConfText(`${at}.grpc_url`, ps.grpc_url);
    });
  }
  if (json.source?.kind === "primary") checkConfText(`${prefix}.source.connstring`, json.source.connstring);
}

export function checkSpecRules(json: ComputeSpecJson, prefix: string, agent?: SpecAgentContext): void {
  if (!(json.format_version >= 1 && json.format_version < 2)) {
    throw new SpecError(
      `${prefix}.format_version`,
      `unsupported format version ${json.format_version}; expected 1.x`,
    );
  }
  const { roles, databases, settings } = json.cluster;
  roles.forEach((r, i) => {
    const at = `${prefix}.cluster.roles[${i}]`;
    checkIdent(`${at}.name`, r.name);
    if (agent && r.name === agent.privilegedRole) {
      throw new SpecError(
        `${at}.name`,
        `${JSON.stringify(r.name)} is the privileged role, which the agent manages`,
      );
    }
    checkPassword(`${at}.encrypted_password`, r.encrypted_password);
    checkOptions(r.options, `${at}.options`);
  });
  databases.forEach((d, i) => {
    const at = `${prefix}.cluster.databases[${i}]`;
    checkIdent(`${at}.name`, d.name);
    checkIdent(`${at}.owner`, d.owner);
    checkOptions(d.options, `${at}.options`);
  });
  checkUnique(roles, `${prefix}.cluster.roles`, "role");
  checkUnique(databases, `${prefix}.cluster.databases`, "database");
  (settings ?? []).forEach((s, i) => {
    checkSetting(s, `${prefix}.cluster.settings[${i}]`);
  });
  checkDeltas(json, prefix, agent);
  checkConfBound(json, prefix);
  checkScalars(json, prefix);
}
