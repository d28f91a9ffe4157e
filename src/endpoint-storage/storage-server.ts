// An endpoint storage server for tests and for operators who do not run Neon's: PUT, GET and
// DELETE of `/{tenant_id}/{timeline_id}/{endpoint_id}/{key}` on local files, the contract
// compute_ctl uses for the LFC state (200 on PUT/DELETE, 200 + bytes or 404 on GET, 400 for an
// upload over the size limit: "File size N exceeds max M"), plus `GET /status`. Uploads are
// written to a temporary file and renamed, so a reader never sees half a state.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Logger } from "pino";
import { BadKeyPath, type KeyPath, parseKeyPath } from "./key-path.js";
import type { StorageAuth } from "./storage-auth.js";

export const DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024;

export interface StorageServerOptions {
  dataDir: string;
  auth: StorageAuth;
  maxUploadBytes: number;
  log: Logger;
}

class TooLarge extends Error {}

function send(res: http.ServerResponse, status: number, text = ""): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function fileOf(dataDir: string, p: KeyPath): string {
  return path.join(dataDir, p.tenantId, p.timelineId, p.endpointId, ...p.key);
}

async function handle(
  opts: StorageServerOptions,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const url = req.url ?? "/";
  if (req.method === "GET" && url.split("?")[0] === "/status") return send(res, 200);
  let key: KeyPath;
  try {
    key = parseKeyPath(url);
  } catch (err) {
    if (err instanceof BadKeyPath) return send(res, 400, `invalid route: ${err.message}`);
    throw err;
  }
  if (req.method !== "GET" && req.method !== "PUT" && req.method !== "DELETE") return send(res, 405);
  const auth = await opts.auth.check(req.headers.authorization, req.method, key);
  if (!auth.ok) return send(res, auth.status, auth.message);
  const file = fileOf(opts.dataDir, key);
  const name = `${key.tenantId}/${key.timelineId}/${key.endpointId}/${key.key.join("/")}`;
  switch (req.method) {
    case "GET": {
      const st = await stat(file).catch(() => null);
      if (!st?.isFile()) return send(res, 404, name);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": st.size });
      await pipeline(createReadStream(file), res);
      return;
    }
    case "PUT": {
      const declared = Number(req.headers["content-length"]);
      if (Number.isFinite(declared) && declared > opts.maxUploadBytes)
        return send(res, 400, `File size ${declared} exceeds max ${opts.maxUploadBytes}`);
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      const tmp = `${file}.${process.pid}.${Date.now()}.upload`;
      let size = 0;
      try {
        await pipeline(
          req,
          async function* limit(source: AsyncIterable<Buffer>) {
            for await (const chunk of source) {
              size += chunk.length;
              if (size > opts.maxUploadBytes) throw new TooLarge();
              yield chunk;
            }
          },
          createWriteStream(tmp, { mode: 0o600 }),
        );
        await rename(tmp, file);
      } catch (err) {
        await rm(tmp, { force: true });
        if (err instanceof TooLarge) {
          res.setHeader("connection", "close");
          return send(res, 400, `File size ${size} exceeds max ${opts.maxUploadBytes}`);
        }
        throw err;
      }
      opts.log.info({ key: name, bytes: size }, "uploaded");
      return send(res, 200);
    }
    default: {
      await rm(file, { force: true });
      opts.log.info({ key: name }, "deleted");
      return send(res, 200);
    }
  }
}

export interface StorageServer {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

export async function startStorageServer(
  opts: StorageServerOptions,
  listen: { host: string; port: number },
): Promise<StorageServer> {
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  const server = http.createServer((req, res) => {
    const t0 = performance.now();
    res.once("finish", () =>
      opts.log.info(
        {
          method: req.method,
          path: (req.url ?? "").split("?")[0],
          status: res.statusCode,
          duration_ms: Math.round(performance.now() - t0),
        },
        "request",
      ),
    );
    handle(opts, req, res).catch((err: unknown) => {
      opts.log.error({ err }, "request failed");
      if (!res.headersSent) send(res, 500);
      else res.destroy();
    });
  });
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  opts.log.info({ host: listen.host, port, data_dir: opts.dataDir }, "endpoint storage listening");
  return {
    server,
    port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
