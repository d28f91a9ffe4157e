// The first exchange on a vm-monitor WebSocket: the agent sends the protocol versions it speaks
// (`{"min":1,"max":1}`), the monitor answers with the highest shared one (`{"version":1}`) or an
// `{"error":...}` naming both ranges. Versions are plain integers; 1 is v1.0, 0 is invalid.

export const PROTOCOL_MIN_VERSION = 1;
export const PROTOCOL_MAX_VERSION = 1;

export interface ProtocolRange {
  min: number;
  max: number;
}

export type NegotiationResult = { ok: true; version: number } | { ok: false; error: string };

/** How Neon prints a version: `v1.0`, `<invalid: zero>`, `<unknown: N>`. */
export function formatVersion(v: number): string {
  if (v === 0) return "<invalid: zero>";
  if (v === 1) return "v1.0";
  return `<unknown: ${v}>`;
}

/** `v1.0` when min == max, else `<min> to <max>`. */
export function formatRange(r: ProtocolRange): string {
  return r.min === r.max ? formatVersion(r.max) : `${formatVersion(r.min)} to ${formatVersion(r.max)}`;
}

function isVersion(v: unknown): v is number {
  // Neon's ProtocolVersion is a u8.
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 255;
}

/** Parses the agent's range; the error text says what was wrong (like serde's). */
export function parseProtocolRange(
  text: string,
): { ok: true; range: ProtocolRange } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `failed to deserialize protocol version range: ${(err as Error).message}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, error: "failed to deserialize protocol version range: expected a JSON object" };
  }
  const { min, max } = value as Record<string, unknown>;
  if (!isVersion(min) || !isVersion(max)) {
    return {
      ok: false,
      error: "failed to deserialize protocol version range: `min` and `max` must be integers from 0 to 255",
    };
  }
  if (min > max) {
    return {
      ok: false,
      error: `min version = ${formatVersion(min)} is greater than max version = ${formatVersion(max)}`,
    };
  }
  return { ok: true, range: { min, max } };
}

/** The highest version both sides speak, or Neon's error text for non-overlapping ranges. */
export function negotiate(
  agent: ProtocolRange,
  monitor: ProtocolRange = { min: PROTOCOL_MIN_VERSION, max: PROTOCOL_MAX_VERSION },
): NegotiationResult {
  if (monitor.min > agent.max || monitor.max < agent.min) {
    return {
      ok: false,
      error: `Received protocol version range ${formatRange(agent)} which does not overlap with ${formatRange(monitor)}`,
    };
  }
  return { ok: true, version: Math.min(monitor.max, agent.max) };
}

/** The monitor's reply text: `{"version":N}` or `{"error":"..."}`. */
export function encodeNegotiationReply(result: NegotiationResult): string {
  return result.ok ? JSON.stringify({ version: result.version }) : JSON.stringify({ error: result.error });
}
