// fetch() over TLS with a test CA and an optional client certificate: Node 20's fetch cannot be
// given a CA without the undici package, so this is node:https behind fetch's signature
// (enough for the harness: method, headers, a string body; the answer as a Response).
import https from "node:https";

export interface TlsClient {
  /** CA the server certificate must chain to. */
  ca: Buffer;
  /** Client certificate and key (mTLS). */
  cert?: Buffer;
  key?: Buffer;
  /** false: accept a certificate that does not verify (an expired one, in its test). */
  rejectUnauthorized?: boolean;
}

export function tlsFetch(client: TlsClient): (url: string, init?: RequestInit) => Promise<Response> {
  return (url, init = {}) =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => {
        headers[k] = v;
      });
      const req = https.request(
        {
          host: u.hostname,
          port: u.port,
          path: `${u.pathname}${u.search}`,
          method: init.method ?? "GET",
          headers,
          ca: client.ca,
          cert: client.cert,
          key: client.key,
          rejectUnauthorized: client.rejectUnauthorized ?? true,
          servername: "localhost",
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const out = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              if (typeof v === "string") out.set(k, v);
              else if (Array.isArray(v)) for (const x of v) out.append(k, x);
            }
            const status = res.statusCode ?? 0;
            const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
            resolve(new Response(body, { status, headers: out }));
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(typeof init.body === "string" ? init.body : undefined);
    });
}
