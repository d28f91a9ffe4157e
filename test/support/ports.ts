// Free TCP ports on the loopback for test servers.
//
// Ports come from below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999
// by default): a port the kernel hands out with listen(0) can be taken, between our check and
// the server's bind, as the local port of any outgoing connection the tests make (to Postgres,
// to the agent). Below that range only servers bind, and each is checked free first; a port is
// never handed out twice by one test process.
import { readFileSync } from "node:fs";
import net from "node:net";

const given = new Set<number>();

function ephemeralStart(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
}

const HIGH = ephemeralStart() - 1;
const LOW = Math.max(1024, HIGH - 12000);

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (given.has(port)) continue;
    if (await bindable(port)) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${LOW}-${HIGH}`);
}

/** Two consecutive free ports N and N+1 (Neon's --http-port takes N and N+1). */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (given.has(port) || given.has(port + 1)) continue;
    if ((await bindable(port)) && (await bindable(port + 1))) {
      given.add(port);
      given.add(port + 1);
      return port;
    }
  }
  throw new Error(`no free port pair found in ${LOW}-${HIGH}`);
}
