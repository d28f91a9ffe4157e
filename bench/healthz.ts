// Liveness probe latency: GET /healthz on a running compute, and while Postgres is stopped with
// SIGSTOP (the probe must never depend on SQL). Sequential keep-alive requests from one client.
import { readFileSync, rmSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { type BenchSection, summarize } from "./stats.js";
import { spawnAgent } from "./support/agent-process.js";
import { exampleSpec } from "./support/example-spec.js";
import { benchRoot } from "./support/scratch-dirs.js";

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(port: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: "/healthz", agent: keepAlive }, (res) => {
        res.resume();
        res.on("end", () =>
          res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`${res.statusCode}`)),
        );
      })
      .on("error", reject);
  });
}

async function sample(port: number, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await get(port));
  return out;
}

const row = (label: string, xs: number[]) => {
  const s = summarize(xs);
  const p99 = [...xs].sort((a, b) => a - b)[Math.floor(0.99 * (xs.length - 1))];
  return {
    label,
    s,
    p99,
    line: `| ${label} | ${s.median.toFixed(2)} | ${p99.toFixed(2)} | ${s.max.toFixed(2)} | ${xs.length} | ${p99 < 10 ? "✅" : "❌"} |`,
  };
};

export async function run(): Promise<BenchSection> {
  const root = benchRoot("ccb-healthz-");
  const agent = await spawnAgent({ root, spec: exampleSpec().json });
  try {
    await agent.waitRunning();
    await sample(agent.port, 200); // warm-up
    const running = row("compute running", await sample(agent.port, 3000));
    const pid = Number(readFileSync(path.join(agent.pgdata, "postmaster.pid"), "utf8").split("\n")[0]);
    process.kill(-pid, "SIGSTOP");
    let stopped: ReturnType<typeof row>;
    try {
      stopped = row("Postgres stopped (SIGSTOP of its process group)", await sample(agent.port, 1000));
    } finally {
      process.kill(-pid, "SIGCONT");
    }
    return {
      title: "Liveness probe /healthz",
      summary: [
        {
          figure: "`/healthz` p99 (Postgres running / SIGSTOPped)",
          ours: `${running.p99.toFixed(1)} ms / ${stopped.p99.toFixed(1)} ms`,
          floor: "",
          target: `< 10 ms ${running.p99 < 10 && stopped.p99 < 10 ? "✅" : "❌"}`,
        },
      ],
      markdown: [
        "Sequential `GET /healthz` over one keep-alive connection against a running compute from the example",
        "spec (activity monitor and exporter running), then with the postmaster's whole process group stopped.",
        "",
        "| Case | p50 ms | p99 ms | max ms | requests | p99 < 10 ms |",
        "|---|---|---|---|---|---|",
        running.line,
        stopped.line,
      ].join("\n"),
    };
  } finally {
    await agent.stop();
    keepAlive.destroy();
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  run().then((s) => console.log(`## ${s.title}\n\n${s.markdown}`));
}
