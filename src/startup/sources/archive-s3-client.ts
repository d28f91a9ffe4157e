// The few S3 calls the stanza lease needs (list, get, put, conditional put, delete), signed with
// AWS Signature Version 4 over node:https. pgBackRest talks to S3 for everything else; it has no
// command that writes an arbitrary object, so the lease needs its own client.
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import https from "node:https";
import type { S3Secrets } from "./archive-config.js";

export interface S3Location {
  readonly bucket: string;
  readonly endpoint: string;
  readonly region: string;
  readonly port: number | null;
  readonly uriStyle: "host" | "path";
  readonly verifyTls: boolean;
  readonly caFile: string | null;
}

export interface S3Response {
  readonly status: number;
  readonly body: string;
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest();

/** RFC 3986 encoding as SigV4 wants it; `/` kept in paths. */
function encode(text: string, keepSlash: boolean): string {
  return [...Buffer.from(text, "utf8")]
    .map((b) => {
      const c = String.fromCharCode(b);
      if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === "/")) return c;
      return `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");
}

export interface SignInput {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly region: string;
  readonly secrets: S3Secrets;
  readonly now: Date;
}

/** The headers of a SigV4-signed S3 request (`authorization`, `x-amz-date`, ...). */
export function signS3Request(input: SignInput): Record<string, string> {
  const amzDate = input.now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {
    ...Object.fromEntries(Object.entries(input.headers).map(([k, v]) => [k.toLowerCase(), v])),
    host: input.host,
    "x-amz-content-sha256": sha256(input.body),
    "x-amz-date": amzDate,
  };
  if (input.secrets.token) headers["x-amz-security-token"] = input.secrets.token;
  const names = Object.keys(headers).sort();
  const canonicalQuery = Object.keys(input.query)
    .sort()
    .map((k) => `${encode(k, false)}=${encode(input.query[k], false)}`)
    .join("&");
  const canonical = [
    input.method,
    encode(input.path, true),
    canonicalQuery,
    ...names.map((n) => `${n}:${headers[n].trim()}`),
    "",
    names.join(";"),
    headers["x-amz-content-sha256"],
  ].join("\n");
  const scope = `${day}/${input.region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n");
  let key = hmac(`AWS4${input.secrets.secret}`, day);
  for (const part of [input.region, "s3", "aws4_request"]) key = hmac(key, part);
  const signature = createHmac("sha256", key).update(toSign).digest("hex");
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${input.secrets.key}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
  return headers;
}

export class S3Client {
  readonly #agent: https.Agent;

  constructor(
    readonly loc: S3Location,
    private readonly secrets: S3Secrets,
  ) {
    this.#agent = new https.Agent({
      keepAlive: false,
      rejectUnauthorized: loc.verifyTls,
      ca: loc.caFile ? readFileSync(loc.caFile) : undefined,
    });
  }

  /** One request, retried (4 tries, 200 ms x2) on 500/502/503/504 and network errors, as S3 asks of clients. */
  async request(
    method: "GET" | "PUT" | "DELETE",
    key: string,
    opts: { query?: Record<string, string>; body?: string; headers?: Record<string, string> } = {},
  ): Promise<S3Response> {
    for (let attempt = 1; ; attempt++) {
      let res: S3Response | null = null;
      try {
        res = await this.#once(method, key, opts);
      } catch (err) {
        if (attempt >= 4) throw err;
      }
      if (res && (![500, 502, 503, 504].includes(res.status) || attempt >= 4)) return res;
      await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
    }
  }

  #once(
    method: "GET" | "PUT" | "DELETE",
    key: string,
    opts: { query?: Record<string, string>; body?: string; headers?: Record<string, string> },
  ): Promise<S3Response> {
    const { loc } = this;
    const host = loc.uriStyle === "host" ? `${loc.bucket}.${loc.endpoint}` : loc.endpoint;
    const hostHeader = loc.port && loc.port !== 443 ? `${host}:${loc.port}` : host;
    const objectPath = loc.uriStyle === "host" ? `/${key}` : `/${loc.bucket}/${key}`;
    const body = opts.body ?? "";
    const query = opts.query ?? {};
    const headers = signS3Request({
      method,
      host: hostHeader,
      path: objectPath,
      query,
      headers: { ...(opts.headers ?? {}), ...(body ? { "content-type": "application/json" } : {}) },
      body,
      region: loc.region,
      secrets: this.secrets,
      now: new Date(),
    });
    const qs = Object.entries(query)
      .map(([k, v]) => `${encode(k, false)}=${encode(v, false)}`)
      .join("&");
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host,
          port: loc.port ?? 443,
          method,
          path: encode(objectPath, true) + (qs ? `?${qs}` : ""),
          headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
          agent: this.#agent,
          timeout: 15_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`S3 ${method} ${key}: timed out`)));
      req.on("error", (err) =>
        reject(new Error(`S3 ${method} ${host}/${key}: ${err.message}`, { cause: err })),
      );
      req.end(body);
    });
  }

  /** Keys under `prefix` (one page of up to 1000 is plenty for lease objects). */
  async list(prefix: string): Promise<string[]> {
    const res = await this.request("GET", "", { query: { "list-type": "2", prefix } });
    if (res.status !== 200)
      throw new Error(`S3 list ${prefix}: HTTP ${res.status} ${res.body.slice(0, 200)}`);
    return [...res.body.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) =>
      m[1].replace(
        /&lt;|&gt;|&amp;|&quot;|&apos;/g,
        (e) => ({ "&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&apos;": "'" })[e] as string,
      ),
    );
  }
}
