// A network namespace of the test's own, joined to the host by a veth pair with addresses of its
// own (10.213.x.y/30), so a test can reach the agent from a non-loopback address: all of
// 127.0.0.0/8 is loopback, so a client on this host cannot. Names and subnet are random per run;
// remove() deletes the namespace (and with it both ends of the veth pair).
import { execFile } from "node:child_process";
import { randomInt } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TestNetns {
  name: string;
  /** The host's end: what a client in the namespace connects to. */
  hostAddress: string;
  /** The namespace's end: the peer address the agent sees. */
  nsAddress: string;
  /** Runs a command inside the namespace. */
  exec(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }>;
  remove(): Promise<void>;
}

export async function createNetns(): Promise<TestNetns> {
  const tag = `${process.pid.toString(36)}${randomInt(36 ** 4).toString(36)}`.slice(-8);
  const name = `cct-${tag}`;
  const [hostIf, nsIf] = [`vh${tag}`, `vn${tag}`];
  const base = randomInt(64) * 4;
  const third = randomInt(256);
  const hostAddress = `10.213.${third}.${base + 1}`;
  const nsAddress = `10.213.${third}.${base + 2}`;
  const remove = async () => {
    await run("ip", ["netns", "del", name]).catch(() => {});
    await run("ip", ["link", "del", hostIf]).catch(() => {});
  };
  try {
    await run("ip", ["netns", "add", name]);
    await run("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", nsIf]);
    await run("ip", ["link", "set", nsIf, "netns", name]);
    await run("ip", ["addr", "add", `${hostAddress}/30`, "dev", hostIf]);
    await run("ip", ["link", "set", hostIf, "up"]);
    await run("ip", ["netns", "exec", name, "ip", "addr", "add", `${nsAddress}/30`, "dev", nsIf]);
    await run("ip", ["netns", "exec", name, "ip", "link", "set", nsIf, "up"]);
    await run("ip", ["netns", "exec", name, "ip", "link", "set", "lo", "up"]);
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    name,
    hostAddress,
    nsAddress,
    async exec(cmd, args) {
      try {
        const { stdout, stderr } = await run("ip", ["netns", "exec", name, cmd, ...args], {
          timeout: 30_000,
        });
        return { stdout, stderr, code: 0 };
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string; code?: number };
        return {
          stdout: e.stdout ?? "",
          stderr: e.stderr ?? "",
          code: typeof e.code === "number" ? e.code : -1,
        };
      }
    },
    remove,
  };
}
