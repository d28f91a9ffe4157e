// Who is calling: loopback peers (all of 127.0.0.0/8, ::1, and IPv4-mapped 127.x) are on this
// host, like the Unix socket's. Without JWT keys only they may change the compute.
import { isIPv4 } from "node:net";

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  if (address === "::1") return true;
  const v4 = address.toLowerCase().startsWith("::ffff:") ? address.slice(7) : address;
  return v4.startsWith("127.") && isIPv4(v4);
}

/** What a 403 for a remote caller says: how to be allowed. */
export const CONFIGURE_KEYS_HINT =
  "without JWT keys only loopback and Unix-socket clients may change the compute: put keys in " +
  "compute_ctl_config.jwks of the launch config (-c or -p) and send Authorization: Bearer <JWT>, " +
  "or start the agent with --insecure-no-auth (not recommended)";
