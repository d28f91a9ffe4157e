// POST /extensions (internal): create or update an extension at a version.
import { readJson, sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const extensionsRoute: Route = {
  method: "POST",
  path: "/extensions",
  auth: false,
  mutating: true,
  async handle({ req, res, api, maxBodyBytes }) {
    sendJson(res, 201, await api.installExtension(await readJson(req, maxBodyBytes)));
  },
};
