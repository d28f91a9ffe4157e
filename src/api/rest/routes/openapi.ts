// GET /openapi.json: the REST API's description (docs/openapi.yaml) as JSON. Read and converted
// on the first request only: the agent's start never pays for it, and every later answer is the
// same bytes.
import { readFile } from "node:fs/promises";
import { installedFile } from "../../../cli/install-root.js";
import * as load from "../../../loading/modules.js";
import { sendText } from "../http-io.js";
import type { RouteHandler } from "../route.js";

export const OPENAPI_FILE = "docs/openapi.yaml";

let document: Promise<string> | null = null;

async function loadDocument(): Promise<string> {
  const file = installedFile(OPENAPI_FILE);
  // yaml is CommonJS: its functions are on the default export wherever it is loaded from (the
  // bundle's lazy chunk exports only `default`).
  const { default: yaml } = await load.openapiYaml();
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new Error(`cannot read the OpenAPI description ${file}: ${(err as Error).message}`);
  }
  return JSON.stringify(yaml.parse(text));
}

export const openapiDocument: RouteHandler = async ({ res }) => {
  document ??= loadDocument();
  document.catch(() => {
    document = null;
  });
  sendText(res, 200, "application/json", await document);
};
