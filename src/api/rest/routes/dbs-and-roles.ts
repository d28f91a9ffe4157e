// GET /dbs_and_roles: roles and databases as the catalog has them (never password hashes).
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const dbsAndRolesRoute: Route = {
  method: "GET",
  path: "/dbs_and_roles",
  auth: true,
  async handle({ res, api }) {
    sendJson(res, 200, await api.dbsAndRoles());
  },
};
