// POST /check_writability: answers `true` once a row could be written (412 unless running).
import { sendJson } from "../http-io.js";
import type { Route } from "../route.js";

export const checkWritabilityRoute: Route = {
  method: "POST",
  path: "/check_writability",
  auth: true,
  mutating: true,
  async handle({ res, api }) {
    await api.checkWritability();
    sendJson(res, 200, true);
  },
};
