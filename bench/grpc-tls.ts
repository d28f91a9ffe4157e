// What TLS costs the gRPC API (issue 21): unary Status calls per second to the real agent
// (bin/compute_ctl, an empty compute) on its TCP port with --tls-cert/--tls-key and without,
// against the floor (bench/support/grpc-load.ts: a bare node:http2 server answering the very
// bytes the agent answers) once with http2.createSecureServer (the same certificate and key) and
// once plaintext. All four in the same run, rounds interleaved, the same client (h2load, 8
// connections x 16 streams: the handshakes are amortised, this is the per-call cost of
// encryption). Every answer is checked: h2load's failures and any HTTP 200 without its message
// (a gRPC error) fail the row. The agent's TLS cost per call (1/rate with TLS - 1/rate without)
// must stay within the floor's own TLS cost plus 10%.
// Standalone: `node --import tsx bench/grpc-tls.ts`.
import { rmSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { issueCertificate, makeCa } from "../test/support/certificates.js";
import { type BenchSection, fmt, median, type Stats, type SummaryRow } from "./stats.js";
import { type AgentProcess, spawnAgent } from "./support/agent-process.js";
import {
  ensureH2load,
  type Floor,
  H2LOAD_ARGS,
  h2load,
  type LoadTarget,
  rawStatus,
  spawnFloor,
  withoutMessage,
} from "./support/grpc-load.js";
import { interleave, verdict } from "./support/interleave.js";
import { benchRoot } from "./support/scratch-dirs.js";

const LOAD_SECONDS = Number(process.env.BENCH_GRPC_SECONDS ?? 4);
const ROUNDS = 5;
const VARIANTS = ["oursTls", "oursPlain", "floorTls", "floorPlain"] as const;
type Variant = (typeof VARIANTS)[number];

/** An agent waiting for a spec: its gRPC TCP port, with TLS when `tls` names the files. */
async function startAgentServer(
  root: string,
  tls?: { certPath: string; keyPath: string },
): Promise<AgentProcess> {
  const args = tls ? ["--tls-cert", tls.certPath, "--tls-key", tls.keyPath] : [];
  const agent = await spawnAgent({ root, args });
  await agent.waitForLog((e) => String(e.msg).startsWith("gRPC/Connect API listening"), 60_000);
  return agent;
}

/**
 * A Status call answered OK with one message: `frame` when given (a server answers the same bytes
 * every time; two agents' answers differ in their start timestamps).
 */
async function checkOk(name: string, target: LoadTarget, ca: Buffer, frame?: Buffer): Promise<Buffer> {
  const a = await rawStatus(target, ca);
  if (a.grpcStatus !== "0" || a.data.length < 5)
    throw new Error(`${name}: Status answered grpc-status ${a.grpcStatus} with ${a.data.length} bytes`);
  if (frame && !a.data.equals(frame)) throw new Error(`${name}: answers other bytes than before`);
  return a.data;
}

export async function run(): Promise<BenchSection> {
  ensureH2load();
  const root = benchRoot("ccb-grpc-tls-");
  const agents: AgentProcess[] = [];
  const floors: Floor[] = [];
  try {
    const ca = makeCa(path.join(root, "certs"), "bench-ca");
    const cert = issueCertificate(ca, path.join(root, "certs"), { name: "bench-server" });
    const tlsFiles = { certPath: cert.certPath, keyPath: cert.keyPath };
    const plain = await startAgentServer(benchRoot("p-", root));
    agents.push(plain);
    const withTls = await startAgentServer(benchRoot("t-", root), tlsFiles);
    agents.push(withTls);
    // The agent logs every request: read and drop it, as a log collector would.
    for (const a of agents) a.discardLogs();
    const targets = {
      oursPlain: { port: plain.grpcPort },
      oursTls: { port: withTls.grpcPort, tls: true },
    } as Record<Variant, LoadTarget>;
    // Both agents answer OK; the floors answer exactly the plaintext agent's bytes.
    const frame = await checkOk("the agent", targets.oursPlain, ca.pem);
    const frames = {
      oursPlain: frame,
      oursTls: await checkOk("the agent with TLS", targets.oursTls, ca.pem),
    } as Record<Variant, Buffer>;
    const floorPlain = await spawnFloor(frame);
    floors.push(floorPlain);
    const floorTls = await spawnFloor(frame, { tls: tlsFiles });
    floors.push(floorTls);
    targets.floorPlain = floorPlain.target;
    targets.floorTls = floorTls.target;
    frames.floorPlain = await checkOk("the floor", targets.floorPlain, ca.pem, frame);
    frames.floorTls = await checkOk("the TLS floor", targets.floorTls, ca.pem, frame);

    let failed = 0;
    let missing = 0;
    const measure = (v: Variant) => async () => {
      const r = await h2load(targets[v], LOAD_SECONDS);
      failed += r.failed;
      missing += withoutMessage(r, frames[v].length);
      return r.rps;
    };
    const stats = await interleave(
      Object.fromEntries(VARIANTS.map((v) => [v, measure(v)])) as Record<Variant, () => Promise<number>>,
      { runs: ROUNDS, warmup: 1 },
    );
    // Still answering OK after the load.
    for (const v of VARIANTS) await checkOk(v, targets[v], ca.pem, frames[v]);
    return report(stats, failed, missing, frame.length);
  } finally {
    await Promise.all(floors.map((f) => f.stop()));
    await Promise.all(agents.map((a) => a.stop()));
    rmSync(root, { recursive: true, force: true });
  }
}

function report(
  stats: Record<Variant, Stats>,
  failed: number,
  missing: number,
  frameBytes: number,
): BenchSection {
  const rps = (s: Stats) => fmt(s, "req/s");
  /** µs per call TLS adds: 1/rate with TLS - 1/rate without (medians). */
  const costUs = (tlsRate: number, plainRate: number) => 1e6 / tlsRate - 1e6 / plainRate;
  const oursCost = costUs(stats.oursTls.median, stats.oursPlain.median);
  const floorCost = costUs(stats.floorTls.median, stats.floorPlain.median);
  const allowed = floorCost * 1.1;
  const ok = oursCost <= allowed && missing === 0 && failed === 0;
  const kept = (t: Stats, p: Stats) => `${((100 * t.median) / p.median).toFixed(0)}%`;
  const markdown = [
    `Unary \`Status\` calls per second over TCP, h2load \`${H2LOAD_ARGS.join(" ")} -D ${LOAD_SECONDS}\` (8 connections x 16`,
    "concurrent streams: the handshakes are amortised, what is measured is the per-call cost of encryption). Ours: the",
    "real agent (`bin/compute_ctl`, an empty compute) on its gRPC TCP port, one with `--tls-cert`/`--tls-key` (TLS 1.3,",
    "ECDSA P-256, ALPN h2), one without. Floor: a bare `node:http2` server answering the agent's very bytes",
    `(${frameBytes} bytes framed), \`http2.createSecureServer\` with the same certificate and key, and plaintext`,
    `\`http2.createServer\`. Each server in its own process; ${ROUNDS} interleaved rounds after a warm-up. Failed or errored`,
    `requests: ${failed}; HTTP 200 answers without their message (gRPC errors): ${missing}.`,
    "",
    "| server | TLS | plaintext | TLS keeps | TLS cost per call |",
    "|---|---|---|---|---|",
    `| ours (the agent) | ${rps(stats.oursTls)} | ${rps(stats.oursPlain)} | ${kept(stats.oursTls, stats.oursPlain)} | ${oursCost.toFixed(1)} µs |`,
    `| floor (bare node:http2) | ${rps(stats.floorTls)} | ${rps(stats.floorPlain)} | ${kept(stats.floorTls, stats.floorPlain)} | ${floorCost.toFixed(1)} µs |`,
    "",
    `Target: the agent's TLS cost per call (1/rate with TLS - 1/rate without, medians) at most the floor's own plus 10%:`,
    `${oursCost.toFixed(1)} µs against ${allowed.toFixed(1)} µs ${verdict(ok)}.`,
  ].join("\n");
  const summary: SummaryRow[] = [
    {
      figure: "gRPC unary Status to the agent over TLS (TCP)",
      ours: `${median(stats.oursTls, "req/s")}; TLS costs ${oursCost.toFixed(1)} µs per call`,
      floor: `bare \`node:http2\` secure server's TLS cost: ${floorCost.toFixed(1)} µs per call`,
      target: `<= floor's + 10% ${verdict(ok)}`,
    },
  ];
  return { title: "gRPC API over TLS: what encryption costs per call", markdown, summary };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const section = await run();
  process.stdout.write(`## ${section.title}\n\n${section.markdown}\n`);
  process.exit(0);
}
