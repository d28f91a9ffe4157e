import { writeFileSync } from "node:fs";
import { execa } from "execa";
import WebSocket from "ws";
import { minimalSpec } from "../test/support/agent.js";
import { spawnAgent } from "./support/agent-process.js";
import { benchRoot } from "./support/scratch-dirs.js";

const root = benchRoot("hsp-");
const agent = await spawnAgent({
  root,
  spec: minimalSpec(),
  env: { NODE_OPTIONS: "--inspect=127.0.0.1:9239" },
});
await agent.waitRunning();
const list = (await (await fetch("http://127.0.0.1:9239/json/list")).json()) as {
  webSocketDebuggerUrl: string;
}[];
const ws = new WebSocket(list[0].webSocketDebuggerUrl, { maxPayload: 1 << 30 });
await new Promise((r) => ws.once("open", r));
let id = 0;
const pending = new Map<number, (v: any) => void>();
ws.on("message", (d) => {
  const m = JSON.parse(d.toString());
  if (m.id && pending.has(m.id)) {
    pending.get(m.id)!(m);
    pending.delete(m.id);
  }
});
const call = (method: string, params: object = {}) =>
  new Promise<any>((r) => {
    const i = ++id;
    pending.set(i, r);
    ws.send(JSON.stringify({ id: i, method, params }));
  });
writeFileSync("/tmp/hs/pace.lua", "function delay()\n  return 9\nend\n");
agent.discardLogs();
const wrk = execa("wrk", [
  "-t1",
  "-c10",
  "-d16s",
  "-s",
  "/tmp/hs/pace.lua",
  `http://127.0.0.1:${agent.port}/autoscaling_metrics`,
]);
await new Promise((r) => setTimeout(r, 3000));
console.log(
  JSON.stringify(
    await call("HeapProfiler.startSampling", {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: false,
    }),
  ).slice(0, 200),
);
await new Promise((r) => setTimeout(r, 10000));
const prof = await call("HeapProfiler.stopSampling");
writeFileSync("/tmp/hs/sampling.json", JSON.stringify(prof.result.profile));
console.log((await wrk).stdout.split("\n").slice(-3).join(" "));
ws.close();
await agent.stop();
