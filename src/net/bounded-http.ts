// Outbound HTTP for endpoint storage and the remote extensions server, on node:http (no fetch:
// fetch normalises `..` out of paths and loads undici's stack into the agent). Every request has
// a connect/idle timeout, follows the caller's AbortSignal, and reads bodies only up to a limit.
import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";

export class HttpRequestError extends Error {
  override readonly name = "HttpRequestError";
  constructor(
    message: string,
    /** The response status, or null when no response arrived. */
    readonly status: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RequestOptions {
  method: "GET" | "PUT" | "DELETE";
  headers?: Record<string, string>;
  body?: Buffer;
  /** Milliseconds without progress (connect, headers, each body chunk) before giving up. */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface StreamedResponse {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: Readable;
}

/** `200 OK`-style label, as Neon's metrics spell statuses. */
export function statusLabel(status: number): string {
  const text = http.STATUS_CODES[status];
  return text ? `${status} ${text}` : String(status);
}

/** Sends the request; resolves once the response headers are in (the body still streams). */
export function request(url: URL, opts: RequestOptions): Promise<StreamedResponse> {
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return Promise.reject(new HttpRequestError(`unsupported URL scheme ${url.protocol}`, null));
  const idle = opts.idleTimeoutMs ?? 30_000;
  const transport = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, {
      method: opts.method,
      headers: {
        ...opts.headers,
        ...(opts.body ? { "content-length": String(opts.body.length) } : {}),
      },
      signal: opts.signal,
      timeout: idle,
      agent: false,
    });
    req.once("timeout", () =>
      req.destroy(new HttpRequestError(`no answer from ${url.host} within ${idle} ms`, null)),
    );
    req.once("error", (err) =>
      reject(
        err instanceof HttpRequestError || (err as Error).name === "AbortError"
          ? err
          : new HttpRequestError(`${opts.method} ${url.host}: ${(err as Error).message}`, null, {
              cause: err,
            }),
      ),
    );
    req.once("response", (res) => {
      res.setTimeout(idle, () =>
        res.destroy(
          new HttpRequestError(
            `response body from ${url.host} stalled for ${idle} ms`,
            res.statusCode ?? null,
          ),
        ),
      );
      resolve({
        status: res.statusCode ?? 0,
        statusText: res.statusMessage ?? "",
        headers: res.headers,
        body: res,
      });
    });
    req.end(opts.body);
  });
}

/** Reads a whole body, failing as soon as it passes `maxBytes` (Content-Length is checked first). */
export async function readBody(res: StreamedResponse, maxBytes: number): Promise<Buffer> {
  const declared = Number(res.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.body.destroy();
    throw new HttpRequestError(
      `response of ${declared} bytes is over the ${maxBytes}-byte limit`,
      res.status,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      res.body.destroy();
      throw new HttpRequestError(`response is over the ${maxBytes}-byte limit`, res.status);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Drains and discards a body (so an error answer's text can be shown, shortened). */
export async function bodyText(res: StreamedResponse, maxChars = 200): Promise<string> {
  try {
    const text = (await readBody(res, 64 * 1024)).toString("utf8").trim();
    return text.length > maxChars ? `${text.slice(0, maxChars)}...` : text;
  } catch {
    return "";
  }
}
