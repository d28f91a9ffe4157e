// The exporter's HTTP server on `neon-communicator.socket` in PGDATA. Routes, top to bottom:
//   GET /autoscaling_metrics  exactly the six autoscaling families (503 JSON before any data)
//   GET /metrics              autoscaling set + Postgres set + exporter health, always 200
// Scrapes wait at most the deadline; stale answers say so in `x-exporter-stale` and, on
// /metrics, in the health families.
import { chmodSync, lstatSync, unlinkSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import type { Logger } from "pino";
import { PROMETHEUS_CONTENT_TYPE, renderFamilies } from "../metrics/prometheus-text.js";
import type { BufferSampler } from "./buffer-sampler.js";
import type { ExporterConnection } from "./exporter-connection.js";
import { autoscalingFamilies, healthFamilies } from "./exporter-families.js";
import type { AutoscalingSnapshot, MetricsCollector } from "./metrics-collector.js";
import { SOCKET_NAME } from "./socket-address.js";

export interface ExporterServerDeps {
  collector: MetricsCollector;
  sampler: BufferSampler;
  conn: ExporterConnection;
  deadlineMs: number;
  /** The collection cache TTL, to tell forwarders how long an answer stays current. */
  ttlMs: number;
  log: Logger;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

function sendJsonError(res: http.ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/**
 * `x-exporter-fresh-for-ms`: how much longer this exact answer would be served from the cache,
 * so a forwarder may reuse it for that long without making values any older than we would.
 */
function sendMetrics(
  res: http.ServerResponse,
  body: string,
  stale: boolean,
  ageMs: number,
  ttlMs: number,
): void {
  res.writeHead(200, {
    "content-type": PROMETHEUS_CONTENT_TYPE,
    "content-length": Buffer.byteLength(body),
    "x-exporter-stale": stale ? "true" : "false",
    "x-exporter-data-age-seconds": (ageMs / 1000).toFixed(3),
    "x-exporter-fresh-for-ms": String(stale ? 0 : Math.max(0, ttlMs - ageMs)),
  });
  res.end(body);
}

export function createExporterServer(deps: ExporterServerDeps): http.Server {
  const { collector, deadlineMs, ttlMs } = deps;
  // The six families render to the same text until the next collection: render once per snapshot.
  let renderedFor: AutoscalingSnapshot | null = null;
  let rendered = "";
  const autoscalingText = (s: AutoscalingSnapshot) => {
    if (renderedFor !== s) {
      rendered = renderFamilies(autoscalingFamilies(s));
      renderedFor = s;
    }
    return rendered;
  };

  const routes: Record<string, Handler> = {
    "/autoscaling_metrics": async (_req, res) => {
      const read = await collector.autoscaling.get(deadlineMs);
      if (!read.value) {
        sendJsonError(
          res,
          503,
          `no autoscaling metrics collected yet: ${read.error ?? "collection running"}`,
        );
        return;
      }
      sendMetrics(res, autoscalingText(read.value), read.stale, Date.now() - read.takenAt, ttlMs);
    },
    "/metrics": async (_req, res) => {
      const [a, p] = await Promise.all([
        collector.autoscaling.get(deadlineMs),
        collector.postgres.get(deadlineMs),
      ]);
      const now = Date.now();
      const families = [
        ...(a.value ? autoscalingFamilies(a.value) : []),
        ...(p.value ?? []),
        ...healthFamilies({ ...deps, reads: { autoscaling: a, postgres: p }, now }),
      ].filter((f) => f.samples.length > 0);
      sendMetrics(
        res,
        renderFamilies(families),
        a.stale || p.stale,
        now - Math.min(a.takenAt || now, p.takenAt || now),
        0,
      );
    },
  };

  return http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const handler = routes[url.pathname];
    if (!handler) {
      sendJsonError(res, 404, `no route ${url.pathname}`);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET" }).end();
      return;
    }
    handler(req, res).catch((err: unknown) => {
      deps.log.error({ err }, "exporter request failed");
      if (!res.headersSent) sendJsonError(res, 500, (err as Error).message);
      else res.destroy();
    });
  });
}

/**
 * Listens on `neon-communicator.socket` in `pgdata`. The process moves into PGDATA and binds the
 * relative name, as Postgres does, so a data directory path of any length works (sun_path holds
 * only 107 bytes); the exporter is its own process, so the chdir disturbs nobody. A stale socket
 * is replaced; any other file under that name is left alone and reported. The umask keeps the
 * socket private from the moment it exists; chmod makes the 0600 explicit.
 */
export async function listenInDataDir(server: http.Server, pgdata: string): Promise<string> {
  process.chdir(pgdata);
  try {
    const st = lstatSync(SOCKET_NAME);
    if (!st.isSocket())
      throw new Error(`${path.join(pgdata, SOCKET_NAME)} exists and is not a socket; not replacing it`);
    unlinkSync(SOCKET_NAME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(`./${SOCKET_NAME}`, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  chmodSync(SOCKET_NAME, 0o600);
  return path.join(pgdata, SOCKET_NAME);
}
