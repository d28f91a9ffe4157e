// Protocol v1 messages after negotiation. The two directions have different JSON shapes:
// agent -> monitor is adjacently tagged (`{"content":{...},"type":"T","id":2}`), monitor -> agent
// is flat (`{"type":"T",...fields,"id":3}`) because the Go agent decodes the whole object into the
// concrete struct. DownscaleResult's `Ok`/`Status` are capitalised (a Go struct without json tags).

/** The agent's `api.Allocation`: vCPUs and bytes. Only `mem` matters to the monitor. */
export interface Allocation {
  cpu: number;
  mem: number;
}

export type InboundMessage =
  | { type: "UpscaleNotification"; id: number; granted: Allocation }
  | { type: "DownscaleRequest"; id: number; target: Allocation }
  | { type: "HealthCheck"; id: number }
  | { type: "InternalError"; id: number; error: string }
  | { type: "InvalidMessage"; id: number; error: string };

export type OutboundMessage =
  | { type: "UpscaleConfirmation"; id: number }
  | { type: "UpscaleRequest"; id: number }
  | { type: "DownscaleResult"; id: number; ok: boolean; status: string }
  | { type: "HealthCheck"; id: number }
  | { type: "InternalError"; id: number; error: string }
  | { type: "InvalidMessage"; id: number; error: string };

export type DecodeResult =
  | { ok: true; message: InboundMessage }
  /** `id` is the sender's id when it could be read, else 0 (an id neither side mints). */
  | { ok: false; id: number; error: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isU64(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

function allocation(v: unknown, field: string): Allocation | string {
  if (!isObject(v)) return `content.${field} must be an object`;
  if (typeof v.cpu !== "number" || !Number.isFinite(v.cpu)) return `content.${field}.cpu must be a number`;
  if (!isU64(v.mem)) return `content.${field}.mem must be a non-negative integer`;
  return { cpu: v.cpu, mem: v.mem };
}

function errorField(content: Record<string, unknown>): string | null {
  return typeof content.error === "string" ? content.error : null;
}

/** Decodes one agent text frame. Unknown extra fields are ignored, as serde does. */
export function decodeInbound(text: string): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, id: 0, error: `failed to deserialize text message: ${(err as Error).message}` };
  }
  if (!isObject(value))
    return { ok: false, id: 0, error: "failed to deserialize text message: not a JSON object" };
  const idOk = isU64(value.id);
  const id = idOk ? (value.id as number) : 0;
  const fail = (why: string): DecodeResult => ({
    ok: false,
    id,
    error: `failed to deserialize text message: ${why}`,
  });
  if (!idOk) return fail("missing or invalid `id`");
  if (typeof value.type !== "string") return fail("missing or invalid `type`");
  // Go serialises empty structs as `{}`; an absent content is tolerated for HealthCheck only.
  const content = value.content ?? (value.type === "HealthCheck" ? {} : undefined);
  if (!isObject(content)) return fail(`\`content\` of ${value.type} must be an object`);
  switch (value.type) {
    case "UpscaleNotification": {
      const granted = allocation(content.granted, "granted");
      return typeof granted === "string"
        ? fail(granted)
        : { ok: true, message: { type: value.type, id, granted } };
    }
    case "DownscaleRequest": {
      const target = allocation(content.target, "target");
      return typeof target === "string"
        ? fail(target)
        : { ok: true, message: { type: value.type, id, target } };
    }
    case "HealthCheck":
      return { ok: true, message: { type: "HealthCheck", id } };
    case "InternalError":
    case "InvalidMessage": {
      const error = errorField(content);
      return error === null
        ? fail(`content.error of ${value.type} must be a string`)
        : { ok: true, message: { type: value.type, id, error } };
    }
    default:
      return fail(`unknown message type ${JSON.stringify(value.type)}`);
  }
}

/** Encodes a monitor message in the flat shape, keys in Neon's order: type, fields, id. */
export function encodeOutbound(msg: OutboundMessage): string {
  switch (msg.type) {
    case "DownscaleResult":
      return JSON.stringify({ type: msg.type, Ok: msg.ok, Status: msg.status, id: msg.id });
    case "InternalError":
    case "InvalidMessage":
      return JSON.stringify({ type: msg.type, error: msg.error, id: msg.id });
    default:
      return JSON.stringify({ type: msg.type, id: msg.id });
  }
}
