// /lfc/offload (Neon's http/routes/lfc.rs): GET the last offload's state; POST starts one (202;
// 429 while one runs).
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const lfcOffloadStateRoute: Route = {
  method: "GET",
  path: "/lfc/offload",
  auth: true,
  async handle({ res, api }) {
    sendJson(res, 200, api.lfcOffloadState());
  },
};

export const lfcOffloadRoute: Route = {
  method: "POST",
  path: "/lfc/offload",
  auth: true,
  mutating: true,
  async handle({ res, api }) {
    api.lfcOffload();
    res.writeHead(202, { "content-length": 0 });
    res.end();
  },
};
