// Free TCP ports on the loopback for test servers.
//
// Ports come from below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999
// by default): a port the kernel hands out with listen(0) can be taken, between our check and
// the server's bind, as the local port of any outgoing connection the tests make (to Postgres,
// to the agent). Below that range only servers bind, and each is checked free first; a port is
// never handed out twice by one test process. Test files run as separate processes (and other
// suites may run on the machine at the same time), so a port is also reserved across processes:
// a file named after it in a shared directory, created exclusively and holding the owner's pid;
// a reservation whose process is gone is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const given = new Set<number>();
const RESERVATIONS = path.join(os.tmpdir(), "compute-ctl-test-ports");
mkdirSync(RESERVATIONS, { recursive: true, mode: 0o1777 });
process.on("exit", () => {
  for (const port of given) rmSync(path.join(RESERVATIONS, String(port)), { force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Reserves `port` for this process unless a live process holds it. */
function reserve(port: number): boolean {
  const file = path.join(RESERVATIONS, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o644);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") return false;
      let owner = 0;
      try {
        owner = Number(readFileSync(file, "utf8"));
      } catch {
        continue;
      }
      if (owner === process.pid || (owner > 0 && alive(owner))) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}

function release(port: number): void {
  rmSync(path.join(RESERVATIONS, String(port)), { force: true });
}

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
    if (given.has(port) || !reserve(port)) continue;
    if (await bindable(port)) {
      given.add(port);
      return port;
    }
    release(port);
  }
  throw new Error(`no free port found in ${LOW}-${HIGH}`);
}

/** Two consecutive free ports N and N+1 (Neon's --http-port takes N and N+1). */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (given.has(port) || given.has(port + 1)) continue;
    if (!reserve(port)) continue;
    if (!reserve(port + 1)) {
      release(port);
      continue;
    }
    if ((await bindable(port)) && (await bindable(port + 1))) {
      given.add(port);
      given.add(port + 1);
      return port;
    }
    release(port);
    release(port + 1);
  }
  throw new Error(`no free port pair found in ${LOW}-${HIGH}`);
}
