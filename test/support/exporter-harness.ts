// Helpers for the exporter tests: an HTTP server mounting forwardAutoscalingMetrics (standing in
// for the agent's external server), curl against the exporter's Unix socket (an independent
// client), and polling with a deadline.
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { execa } from "execa";
import { type Logger, pino } from "pino";
import {
  type ForwardOptions,
  forwardAutoscalingMetrics,
} from "../../src/exporter-host/forward-autoscaling-metrics.js";

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface TestForwarder {
  url: string;
  close(): Promise<void>;
}

/** A node:http server on 127.0.0.1 with `GET /autoscaling_metrics` forwarded to the exporter. */
export async function startForwarder(opts: ForwardOptions): Promise<TestForwarder> {
  const server = http.createServer((req, res) => {
    if (req.url === "/autoscaling_metrics") {
      forwardAutoscalingMetrics(req, res, opts).catch(() => res.destroy());
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function splitResponse(raw: string): HttpAnswer {
  // With keep-alive curl may print an interim response; the last header block is the answer.
  const at = raw.indexOf("\r\n\r\n");
  const head = raw.slice(0, at);
  const body = raw.slice(at + 4);
  const [statusLine, ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(":");
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(statusLine.split(" ")[1]), headers, body };
}

/** `curl --unix-socket` from inside the socket's directory, so a path of any length works. */
export async function curlSocket(
  socketPath: string,
  route: string,
  timeoutS = 10,
  method = "GET",
): Promise<HttpAnswer> {
  const r = await execa(
    "curl",
    [
      "-s",
      "-X",
      method,
      "-i",
      "--max-time",
      String(timeoutS),
      "--unix-socket",
      path.basename(socketPath),
      `http://localhost${route}`,
    ],
    { cwd: path.dirname(socketPath), reject: false, stripFinalNewline: false },
  );
  if (r.exitCode !== 0)
    throw new Error(`curl --unix-socket ${socketPath}${route} failed (exit ${r.exitCode}): ${r.stderr}`);
  return splitResponse(r.stdout);
}

export async function httpGet(url: string, timeoutMs = 10_000): Promise<HttpAnswer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    headers[k] = v;
  });
  return { status: res.status, headers, body: await res.text() };
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T> | T,
  timeoutMs: number,
  everyMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${String(last ?? "")}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface LogLine {
  level: number;
  time: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose lines the test can read (parsed JSON, in order). */
export function captureLog(level = "info"): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log, lines };
}
