// A local S3-compatible server for tests of the archive source's `s3` repository: s3rver (npm)
// over HTTPS with a throwaway self-signed certificate (pgBackRest speaks S3 only over TLS), in
// the test process, signatures checked with its fixed credentials.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import S3rver from "s3rver";
import { freePort } from "./ports.js";
import { tempDir } from "./postgres.js";

export const S3_KEY = "S3RVER";
export const S3_SECRET = "S3RVER";

export interface TestS3 {
  readonly port: number;
  readonly bucket: string;
  stop(): Promise<void>;
}

export async function startTestS3(bucket = "computes"): Promise<TestS3> {
  const dir = tempDir("ccs3-");
  const key = path.join(dir, "key.pem");
  const cert = path.join(dir, "cert.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  const port = await freePort();
  const server = new S3rver({
    address: "127.0.0.1",
    port,
    key: readFileSync(key),
    cert: readFileSync(cert),
    silent: true,
    directory: path.join(dir, "data"),
    vhostBuckets: false,
    configureBuckets: [{ name: bucket }],
  });
  await server.run();
  return {
    port,
    bucket,
    async stop() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
