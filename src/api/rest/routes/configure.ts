// POST /configure: start an empty compute or reconfigure a running one; answers when running.
import { readJson, sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const configureRoute: Route = {
  method: "POST",
  path: "/configure",
  auth: true,
  mutating: true,
  async handle({ req, res, api, maxBodyBytes }) {
    sendJson(res, 200, await api.configure(await readJson(req, maxBodyBytes)));
  },
};
