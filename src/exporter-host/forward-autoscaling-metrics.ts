// The agent's external `GET /autoscaling_metrics`: access checks, then the exporter's answer as
// its socket serves it (status, content type, the same text, the staleness headers). A stopped,
// restarting or hung exporter gives a 502 `{"error": ...}` - at once, or within the timeout -
// never a hang. Requests that arrive while a read is running share its answer, and an answer is
// reused for as long as the exporter says it would serve it unchanged from its own cache (its
// `freshForMs`) and only while the thread that gave it still runs: values are never older than
// the exporter's TTL, and a burst of scrapes costs the exporter one read.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { ExporterReply } from "../exporter/thread-protocol.js";
import { PROMETHEUS_CONTENT_TYPE, renderFamilies } from "../metrics/prometheus-text.js";
import type { AutoscalingAccess } from "./autoscaling-access.js";
import type { ExporterHandle } from "./exporter-supervisor.js";

export interface ForwardOptions {
  /** The running exporter; null when none is started (502). */
  exporter: Pick<ExporterHandle, "read" | "generation"> | null;
  /** Longest the client waits for the exporter (default 2000 ms). */
  timeoutMs?: number;
  access?: AutoscalingAccess;
  /** The request's logger, made on first call (a scrape that goes well logs nothing here). */
  log?: () => Logger;
}

/** An answer ready to send: status, headers and body. */
interface Ready {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  dataAgeMs: number | null;
}

interface Shared {
  inflight: Promise<Ready> | null;
  fresh: Ready | null;
  freshUntil: number;
  fetchedAt: number;
  generation: number;
}

const shared = new WeakMap<object, Shared>();

function toHttp(reply: ExporterReply): Ready {
  if (reply.status !== 200) {
    return {
      status: reply.status,
      headers: { "content-type": "application/json" },
      body: Buffer.from(JSON.stringify({ error: reply.error })),
      dataAgeMs: null,
    };
  }
  return {
    status: 200,
    headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "x-exporter-stale": reply.stale ? "true" : "false" },
    body: Buffer.from(renderFamilies(reply.families)),
    dataAgeMs: reply.ageMs,
  };
}

/** The answer, and how long ago it was read (0 unless reused). */
function readShared(
  exporter: NonNullable<ForwardOptions["exporter"]>,
  timeoutMs: number,
): Promise<{ r: Ready; reusedMs: number }> {
  let s = shared.get(exporter);
  if (!s) {
    s = { inflight: null, fresh: null, freshUntil: 0, fetchedAt: 0, generation: -1 };
    shared.set(exporter, s);
  }
  const entry = s;
  const now = performance.now();
  if (entry.fresh && now < entry.freshUntil && entry.generation === exporter.generation)
    return Promise.resolve({ r: entry.fresh, reusedMs: now - entry.fetchedAt });
  if (!entry.inflight) {
    const sentAt = now;
    const generation = exporter.generation;
    entry.inflight = exporter
      .read("autoscaling", timeoutMs)
      .then((reply) => {
        const ready = toHttp(reply);
        // Counted from when we asked, so the reuse never outlives the exporter's own cache.
        const freshFor = reply.status === 200 ? reply.freshForMs : 0;
        entry.fresh = freshFor > 0 ? ready : null;
        entry.freshUntil = sentAt + freshFor;
        entry.fetchedAt = performance.now();
        entry.generation = generation;
        return ready;
      })
      .finally(() => {
        entry.inflight = null;
      });
  }
  return entry.inflight.then((r) => ({ r, reusedMs: 0 }));
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
  if (!opts.exporter) {
    sendJson(res, 502, { error: "the metrics exporter is not running" });
    return;
  }
  let answer: Ready;
  let reusedMs: number;
  try {
    ({ r: answer, reusedMs } = await readShared(opts.exporter, opts.timeoutMs ?? 2000));
  } catch (err) {
    opts.log?.().warn({ err }, "autoscaling metrics: exporter unreachable");
    sendJson(res, 502, { error: (err as Error).message });
    return;
  }
  const headers: Record<string, string | number> = {
    ...answer.headers,
    "content-length": answer.body.length,
  };
  if (answer.dataAgeMs !== null)
    headers["x-exporter-data-age-seconds"] = ((answer.dataAgeMs + reusedMs) / 1000).toFixed(3);
  res.writeHead(answer.status, headers);
  res.end(req.method === "HEAD" ? undefined : answer.body);
}
