// /lfc/prewarm (Neon's http/routes/lfc.rs): GET the last prewarm's state; POST starts one (202,
// `?from_endpoint=` loads another endpoint's state; 429 while one runs); DELETE cancels (202).
import type { ServerResponse } from "node:http";
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

function accepted(res: ServerResponse): void {
  res.writeHead(202, { "content-length": 0 });
  res.end();
}

export const lfcPrewarmStateRoute: Route = {
  method: "GET",
  path: "/lfc/prewarm",
  auth: true,
  async handle({ res, api }) {
    sendJson(res, 200, api.lfcPrewarmState());
  },
};

export const lfcPrewarmRoute: Route = {
  method: "POST",
  path: "/lfc/prewarm",
  auth: true,
  mutating: true,
  async handle({ res, url, api }) {
    api.lfcPrewarm(url.searchParams.get("from_endpoint"));
    accepted(res);
  },
};

export const lfcPrewarmCancelRoute: Route = {
  method: "DELETE",
  path: "/lfc/prewarm",
  auth: true,
  mutating: true,
  async handle({ res, api }) {
    api.lfcCancelPrewarm();
    accepted(res);
  },
};
