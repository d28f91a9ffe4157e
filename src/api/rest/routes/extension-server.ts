// POST /extension_server/{filename}?is_library=true|false (internal): what Neon's Postgres
// extension calls when a file is missing; downloads and installs the remote extension that
// provides it. 200 empty once installed; 412 without -r, 409 without remote_extensions in the
// spec, 404 for a name the spec does not list, 500 when the download or unpacking fails.
import { OperationError } from "../../../errors/operation-error.js";
import type { RouteHandler } from "../route.js";

const MAX_FILENAME = 1024;

function isLibrary(value: string | null): boolean {
  if (value === null || value === "false") return false;
  if (value === "true") return true;
  throw new OperationError(
    "invalid_argument",
    `is_library must be true or false, got ${JSON.stringify(value)}`,
  );
}

export const extensionServer: RouteHandler = async ({ res, url, api, params }) => {
  const filename = params.filename ?? "";
  if (filename.length > MAX_FILENAME) throw new OperationError("invalid_argument", "filename is too long");
  await api.downloadExtension(filename, isLibrary(url.searchParams.get("is_library")));
  res.writeHead(200, { "content-length": 0 });
  res.end();
};
