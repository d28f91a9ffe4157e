// The exporter's HTTP server on `neon-communicator.socket` in PGDATA (data-dir-socket.ts):
// GET /autoscaling_metrics and GET /metrics (exporter-answers.ts) as Prometheus text, anything
// else 404, other methods 405. Headers: `x-exporter-stale`, `x-exporter-data-age-seconds`, and
// `x-exporter-fresh-for-ms` (how much longer this exact answer is served from the cache).
// With `testHooks` (tests only: COMPUTE_CTL_EXPORTER_TEST_HOOKS=1 in the agent's environment),
// POST /test/hang blocks the thread's event loop for good and POST /test/crash throws an uncaught
// error in it, each after answering 202.
import http from "node:http";
import type { MetricFamily } from "../metrics/metric-family.js";
import { PROMETHEUS_CONTENT_TYPE, renderFamilies } from "../metrics/prometheus-text.js";
import type { Answer } from "./exporter-answers.js";
import type { ExporterLog } from "./thread-log.js";
import type { ExporterReply, ReadWhat } from "./thread-protocol.js";

const ROUTES: Record<string, ReadWhat> = {
  "/autoscaling_metrics": "autoscaling",
  "/metrics": "metrics",
};

function sendJsonError(res: http.ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Test hooks: what the supervisor must survive, triggered through the socket. */
const TEST_HOOKS: Record<string, () => void> = {
  "/test/hang": () => {
    for (;;);
  },
  "/test/crash": () => {
    throw new Error("metrics exporter crashed on request (test hook)");
  },
};

export function createExporterServer(
  answer: Answer,
  log: ExporterLog,
  opts: { testHooks?: boolean } = {},
): http.Server {
  // The autoscaling families are the same object until the next collection: render them once.
  const rendered = new WeakMap<MetricFamily[], string>();
  const text = (families: MetricFamily[]) => {
    let t = rendered.get(families);
    if (t === undefined) {
      t = renderFamilies(families);
      rendered.set(families, t);
    }
    return t;
  };
  const send = (res: http.ServerResponse, reply: ExporterReply) => {
    if (reply.status !== 200) {
      sendJsonError(res, reply.status, reply.error);
      return;
    }
    const body = text(reply.families);
    res.writeHead(200, {
      "content-type": PROMETHEUS_CONTENT_TYPE,
      "content-length": Buffer.byteLength(body),
      "x-exporter-stale": reply.stale ? "true" : "false",
      "x-exporter-data-age-seconds": (reply.ageMs / 1000).toFixed(3),
      "x-exporter-fresh-for-ms": String(reply.freshForMs),
    });
    res.end(body);
  };

  return http.createServer((req, res) => {
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    const hook = opts.testHooks && req.method === "POST" ? TEST_HOOKS[pathname] : undefined;
    if (hook) {
      log.warn({ hook: pathname }, "metrics exporter test hook");
      res.writeHead(202).end(() => setImmediate(hook));
      return;
    }
    const what = ROUTES[pathname];
    if (!what) {
      sendJsonError(res, 404, `no route ${pathname}`);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET" }).end();
      return;
    }
    answer(what).then(
      (reply) => send(res, reply),
      (err: unknown) => {
        log.error({ err }, "exporter request failed");
        if (!res.headersSent) sendJsonError(res, 500, (err as Error).message);
        else res.destroy();
      },
    );
  });
}
