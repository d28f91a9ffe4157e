import { writeFileSync } from "node:fs";
import { execa } from "execa";
import { minimalSpec } from "../test/support/agent.js";
import { spawnAgent } from "./support/agent-process.js";
import { benchRoot } from "./support/scratch-dirs.js";

const root = benchRoot("hsp-");
const agent = await spawnAgent({
  root,
  spec: minimalSpec(),
  env: { NODE_OPTIONS: "--heapsnapshot-signal=SIGUSR2" },
});
await agent.waitRunning();
await new Promise((r) => setTimeout(r, 8000));
process.kill(agent.proc.pid!, "SIGUSR2");
await new Promise((r) => setTimeout(r, 4000));
writeFileSync("/tmp/hs/pace.lua", "function delay()\n  return 9\nend\n");
agent.discardLogs();
const wrk = execa("wrk", [
  "-t1",
  "-c10",
  "-d20s",
  "-s",
  "/tmp/hs/pace.lua",
  `http://127.0.0.1:${agent.port}/autoscaling_metrics`,
]);
await new Promise((r) => setTimeout(r, 12000));
process.kill(agent.proc.pid!, "SIGUSR2");
console.log((await wrk).stdout);
await agent.stop();
