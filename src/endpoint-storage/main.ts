// bin/endpoint-storage: runs the endpoint storage server (storage-server.ts) until SIGTERM/SIGINT.
import "../loading/skip-undici.js";
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { createLogger } from "../log/logger.js";
import { jwtAuth, type StorageAuth, staticTokenAuth } from "./storage-auth.js";
import { DEFAULT_MAX_UPLOAD_BYTES, startStorageServer } from "./storage-server.js";

const HELP = `endpoint-storage - stores compute state (LFC prewarm data) for compute_ctl, Neon's contract

Usage: endpoint-storage --data-dir DIR (--public-key PEM | --token-file FILE) [options]

  --data-dir DIR          where the objects are kept (created if missing)
  --public-key FILE       Ed25519 public key (PEM, SPKI): tokens are EdDSA JWTs with claims
                          {tenant_id, timeline_id, endpoint_id, exp}, as Neon's control plane mints
  --token-file FILE       a static bearer token instead (whitespace trimmed); every path allowed
  --listen HOST:PORT      listen address (0.0.0.0:51243)
  --max-upload-bytes N    largest object accepted (${DEFAULT_MAX_UPLOAD_BYTES})
  -h, --help              this help

Routes: PUT, GET, DELETE /{tenant_id}/{timeline_id}/{endpoint_id}/{key}; GET /status.
`;

function fail(message: string): never {
  process.stderr.write(`endpoint-storage: ${message}\n`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        "data-dir": { type: "string" },
        "public-key": { type: "string" },
        "token-file": { type: "string" },
        listen: { type: "string" },
        "max-upload-bytes": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    return fail((err as Error).message);
  }
})();
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
if (!values["data-dir"]) fail("--data-dir is required");
if (!values["public-key"] === !values["token-file"])
  fail("give exactly one of --public-key and --token-file");
const listen = /^(.+):(\d{1,5})$/.exec(values.listen ?? "0.0.0.0:51243");
if (!listen || Number(listen[2]) > 65535)
  fail(`--listen expects HOST:PORT, got ${JSON.stringify(values.listen)}`);
const maxUpload = Number(values["max-upload-bytes"] ?? DEFAULT_MAX_UPLOAD_BYTES);
if (!Number.isInteger(maxUpload) || maxUpload < 1) fail("--max-upload-bytes expects a positive integer");

let auth: StorageAuth;
try {
  if (values["public-key"]) {
    const key = createPublicKey(readFileSync(values["public-key"]));
    if (key.asymmetricKeyType !== "ed25519") fail("--public-key must be an Ed25519 key");
    auth = jwtAuth(key);
  } else {
    const token = readFileSync(values["token-file"] as string, "utf8").trim();
    if (!/^[\x21-\x7e]{16,}$/.test(token))
      fail("--token-file must hold a token of at least 16 printable characters");
    auth = staticTokenAuth(token);
  }
} catch (err) {
  fail((err as Error).message);
}

const log = createLogger();
const server = await startStorageServer(
  { dataDir: path.resolve(values["data-dir"]), auth, maxUploadBytes: maxUpload, log },
  { host: listen[1].replace(/^\[|\]$/g, ""), port: Number(listen[2]) },
).catch((err: unknown) => fail((err as Error).message));
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.once(sig, () => {
    log.info({ signal: sig }, "endpoint storage stopping");
    void server.close().then(() => process.exit(0));
  });
}
