// The agent's external `GET /autoscaling_metrics`: access checks, then the exporter's answer
// passed through (status, content type, body, staleness headers). An unreachable or hung exporter
// gives a 502 `{"error": ...}` within the timeout, never a hang. Requests that arrive while an
// upstream request is running share its answer, and a fresh answer is reused for as long as the
// exporter says it would serve it unchanged from its own cache (`x-exporter-fresh-for-ms`): values
// are never older than the exporter's TTL, and a burst of scrapes costs the exporter one request.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { type ExporterResponse, getFromExporter } from "../exporter/exporter-request.js";
import type { AutoscalingAccess } from "./autoscaling-access.js";

export interface ForwardOptions {
  /** The exporter's socket (`exporterSocketPath(pgdata)`). */
  socketPath: string;
  /** Longest the client waits for the exporter (default 2000 ms). */
  timeoutMs?: number;
  access?: AutoscalingAccess;
  log?: Logger;
}

const PASSED_HEADERS = ["content-type", "x-exporter-stale", "x-exporter-data-age-seconds"] as const;

interface Shared {
  inflight: Promise<ExporterResponse> | null;
  fresh: ExporterResponse | null;
  freshUntil: number;
  fetchedAt: number;
}

const shared = new Map<string, Shared>();
const watched = new WeakSet<Socket>();

/** A reused answer dies with the connection it came over: a killed exporter is noticed at once. */
function dropOnClose(socket: Socket | null): void {
  if (!socket || watched.has(socket)) return;
  watched.add(socket);
  socket.once("close", () => {
    for (const s of shared.values()) if (s.fresh?.socket === socket) s.fresh = null;
  });
}

/** The answer, and how long ago it was fetched (0 unless reused). */
function fetchShared(
  socketPath: string,
  timeoutMs: number,
): Promise<{ r: ExporterResponse; reusedMs: number }> {
  let entry = shared.get(socketPath);
  if (!entry) {
    entry = { inflight: null, fresh: null, freshUntil: 0, fetchedAt: 0 };
    shared.set(socketPath, entry);
  }
  const s = entry;
  const now = performance.now();
  if (s.fresh && now < s.freshUntil) return Promise.resolve({ r: s.fresh, reusedMs: now - s.fetchedAt });
  if (!s.inflight) {
    const sentAt = performance.now();
    s.inflight = getFromExporter(socketPath, "/autoscaling_metrics", timeoutMs)
      .then((r) => {
        // Counted from when we asked, so the reuse never outlives the exporter's own cache.
        const freshFor = r.status === 200 ? Number(r.headers["x-exporter-fresh-for-ms"] ?? 0) : 0;
        s.fresh = freshFor > 0 && r.socket && !r.socket.destroyed ? r : null;
        if (s.fresh) dropOnClose(r.socket);
        s.freshUntil = sentAt + (Number.isFinite(freshFor) ? freshFor : 0);
        s.fetchedAt = performance.now();
        return r;
      })
      .finally(() => {
        s.inflight = null;
      });
  }
  return s.inflight.then((r) => ({ r, reusedMs: 0 }));
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...extra,
  });
  res.end(text);
}

export async function forwardAutoscalingMetrics(
  req: IncomingMessage,
  res: ServerResponse,
  opts: ForwardOptions,
): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET" }).end();
    return;
  }
  const decision = opts.access?.check(req.socket.remoteAddress);
  if (decision && !decision.ok) {
    const headers: Record<string, string> = decision.retryAfterS
      ? { "retry-after": String(decision.retryAfterS) }
      : {};
    sendJson(res, decision.status, { error: decision.error }, headers);
    return;
  }
  let upstream: ExporterResponse;
  let reusedMs: number;
  try {
    ({ r: upstream, reusedMs } = await fetchShared(opts.socketPath, opts.timeoutMs ?? 2000));
  } catch (err) {
    opts.log?.warn({ err }, "autoscaling metrics: exporter unreachable");
    sendJson(res, 502, { error: (err as Error).message });
    return;
  }
  const headers: Record<string, string | number> = { "content-length": upstream.body.length };
  for (const h of PASSED_HEADERS) {
    const v = upstream.headers[h];
    if (typeof v === "string") headers[h] = v;
  }
  const age = Number(upstream.headers["x-exporter-data-age-seconds"]);
  if (reusedMs > 0 && Number.isFinite(age))
    headers["x-exporter-data-age-seconds"] = (age + reusedMs / 1000).toFixed(3);
  res.writeHead(upstream.status, headers);
  res.end(req.method === "HEAD" ? undefined : upstream.body);
}
