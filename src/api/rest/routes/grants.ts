// POST /grants (internal): grant the missing schema privileges to a role.
import { readJson, sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const grantsRoute: Route = {
  method: "POST",
  path: "/grants",
  auth: false,
  mutating: true,
  async handle({ req, res, api, maxBodyBytes }) {
    sendJson(res, 201, await api.setGrants(await readJson(req, maxBodyBytes)));
  },
};
