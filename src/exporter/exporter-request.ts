// GET requests from the agent to the exporter's socket: keep-alive connections (the autoscaler and
// Prometheus scrape the same few routes all the time), long socket paths through a short link,
// and one overall timeout per request, so a hung exporter costs a caller at most `timeoutMs`.
import http from "node:http";
import type { Socket } from "node:net";
import { connectablePath } from "./socket-address.js";

export interface ExporterResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The (keep-alive) connection it came over: it closes when the exporter goes away. */
  socket: Socket | null;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16, maxFreeSockets: 4, timeout: 30_000 });

export class ExporterUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ExporterUnreachableError";
  }
}

/** Fetches `route` from the exporter; rejects with ExporterUnreachableError on any transport failure. */
export function getFromExporter(
  socketPath: string,
  route: string,
  timeoutMs: number,
): Promise<ExporterResponse> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(
        new ExporterUnreachableError(`fetching ${route} from the metrics exporter: ${err.message}`, {
          cause: err,
        }),
      );
    };
    let target: string;
    try {
      target = connectablePath(socketPath);
    } catch (err) {
      fail(err as Error);
      return;
    }
    const req = http.request(
      { socketPath: target, path: route, method: "GET", agent, headers: { host: "localhost" } },
      (res) => {
        const chunks: Buffer[] = [];
        const socket = res.socket; // detached from `res` once the response is complete
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 502,
            headers: res.headers,
            body: Buffer.concat(chunks),
            socket,
          });
        });
        res.on("error", fail);
        res.on("aborted", () => fail(new Error("response aborted")));
      },
    );
    const timer = setTimeout(() => {
      fail(new Error(`no answer within ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    req.on("error", fail);
    req.end();
  });
}
