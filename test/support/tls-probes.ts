// What the TLS tests look at on a running agent: a probe polled until it answers, and the
// certificate expiry metric of one listener as /metrics shows it.
import type { RunningAgent } from "./agent.js";

/** Polls `probe` until it returns a value (not undefined), for up to 60 s. */
export async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const end = Date.now() + 60_000;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** compute_ctl_tls_certificate_expiry_seconds{listener} from the agent's /metrics. */
export async function expiryMetric(agent: RunningAgent, listener: string): Promise<number | undefined> {
  const text = await (await agent.get("/metrics")).text();
  const m = new RegExp(
    `^compute_ctl_tls_certificate_expiry_seconds\\{listener="${listener}"\\} (\\S+)$`,
    "m",
  ).exec(text);
  return m ? Number(m[1]) : undefined;
}
