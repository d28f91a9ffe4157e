// The /autoscaling_metrics forwarder's request logger is made only when it logs: a scrape that
// goes well makes none, an unreachable exporter logs its warning through it.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ExporterReply } from "../src/exporter/thread-protocol.js";
import { captureLog, httpGet, startForwarder } from "./support/exporter-harness.js";

test("the forwarder makes its request logger only to log: none for an answer, one warning for an unreachable exporter", async (t) => {
  const { log, lines } = captureLog("warn");
  let made = 0;
  let fail = false;
  const reply: ExporterReply = { status: 200, families: [], stale: false, ageMs: 0, freshForMs: 0 };
  const forwarder = await startForwarder({
    exporter: {
      generation: 0,
      read: async () => {
        if (fail) throw new Error("exporter thread gone");
        return reply;
      },
    },
    log: () => {
      made++;
      return log;
    },
  });
  t.after(() => forwarder.close());
  for (let i = 0; i < 3; i++)
    assert.equal((await httpGet(`${forwarder.url}/autoscaling_metrics`)).status, 200);
  assert.equal(made, 0, "no logger for answered scrapes");
  fail = true;
  const res = await httpGet(`${forwarder.url}/autoscaling_metrics`);
  assert.equal(res.status, 502);
  assert.match(res.body, /exporter thread gone/);
  assert.equal(made, 1);
  assert.deepEqual(
    lines.map((l) => [l.msg, (l.err as { message?: string } | undefined)?.message]),
    [["autoscaling metrics: exporter unreachable", "exporter thread gone"]],
  );
});
