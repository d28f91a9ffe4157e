// Who may read /autoscaling_metrics and how often: an optional allow-list of client networks
// (403 otherwise) and an optional per-client token bucket (429 with Retry-After). Both are off
// unless configured, which is what the autoscaler needs out of the box (Neon serves the route
// without any check). The agent maps its flags `--autoscaling-metrics-allow` and
// `--autoscaling-metrics-rate` to `createAutoscalingAccess`.
import { ClientAllowList } from "./client-allow-list.js";
import { ClientRateLimiter, parseRateLimit } from "./client-rate-limit.js";

export type AccessDecision =
  | { ok: true }
  | { ok: false; status: 403 | 429; error: string; retryAfterS?: number };

export interface AutoscalingAccess {
  check(remoteAddress: string | undefined, nowMs?: number): AccessDecision;
}

export interface AutoscalingAccessOptions {
  /** Comma-separated addresses/CIDR blocks, e.g. `10.0.0.0/8,fd00::/8`; null/empty: everyone. */
  allow?: string | null;
  /** `RATE/s` or `RATE/m`, optionally `,burst=N`; null/empty: unlimited. */
  rate?: string | null;
}

/** Throws a descriptive Error for malformed options, so the agent can refuse to start on them. */
export function createAutoscalingAccess(opts: AutoscalingAccessOptions = {}): AutoscalingAccess {
  const allow = opts.allow?.trim() ? new ClientAllowList(opts.allow) : null;
  const limiter = opts.rate?.trim() ? new ClientRateLimiter(parseRateLimit(opts.rate)) : null;
  return {
    check(remoteAddress, nowMs) {
      if (allow && !allow.allows(remoteAddress)) {
        return {
          ok: false,
          status: 403,
          error: `client ${remoteAddress ?? "(unknown)"} is not allowed to read autoscaling metrics`,
        };
      }
      if (limiter) {
        const wait = limiter.take(remoteAddress ?? "unknown", nowMs);
        if (wait > 0) {
          return {
            ok: false,
            status: 429,
            error: "too many autoscaling metrics requests from this client",
            retryAfterS: Math.max(1, Math.ceil(wait)),
          };
        }
      }
      return { ok: true };
    },
  };
}
