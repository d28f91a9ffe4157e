// S3 credentials of the archive source, resolved from their reference in the spec: environment
// variables of the agent, or a JSON file ({"key": ..., "secret": ..., "token": ...}); the spec
// never carries a secret.
import { readFile } from "node:fs/promises";
import { hasControlChars } from "../../spec/schema.js";
import type { ArchiveRepoJson } from "../../spec/types.js";
import { ArchiveConfigError, type S3Secrets } from "./archive-config.js";

const MAX_FILE_BYTES = 64 * 1024;

function checkValue(what: string, value: unknown): string {
  if (typeof value !== "string" || value === "") throw new ArchiveConfigError(`${what} is missing or empty`);
  if (hasControlChars(value) || value !== value.trim()) {
    throw new ArchiveConfigError(`${what} contains control characters or surrounding blanks`);
  }
  return value;
}

export async function resolveS3Secrets(
  repo: ArchiveRepoJson,
  env: NodeJS.ProcessEnv = process.env,
): Promise<S3Secrets | null> {
  if (repo.type !== "s3") return null;
  const c = repo.credentials;
  if (c.from === "env") {
    return {
      key: checkValue(`environment variable ${c.key_var} (S3 access key)`, env[c.key_var]),
      secret: checkValue(`environment variable ${c.secret_var} (S3 secret key)`, env[c.secret_var]),
      token: c.token_var
        ? checkValue(`environment variable ${c.token_var} (S3 token)`, env[c.token_var])
        : null,
    };
  }
  let text: string;
  try {
    text = await readFile(c.path, "utf8");
  } catch (err) {
    throw new ArchiveConfigError(`cannot read the S3 credentials file ${c.path}: ${(err as Error).message}`);
  }
  if (text.length > MAX_FILE_BYTES)
    throw new ArchiveConfigError(`S3 credentials file ${c.path} is too large`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ArchiveConfigError(`S3 credentials file ${c.path} is not JSON ({"key": ..., "secret": ...})`);
  }
  return {
    key: checkValue(`"key" in ${c.path}`, json.key),
    secret: checkValue(`"secret" in ${c.path}`, json.secret),
    token: json.token == null ? null : checkValue(`"token" in ${c.path}`, json.token),
  };
}
