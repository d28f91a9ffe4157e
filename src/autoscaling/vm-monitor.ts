// The vm-monitor server: `GET /monitor` upgraded to a WebSocket on --vm-monitor-addr, for the
// autoscaler-agent. One agent connection at a time: a new one replaces (and closes) the old one,
// as in Neon where the agent reconnects after a restart and the stale socket must not linger.
import { existsSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import type { Logger } from "pino";
import { WebSocketServer } from "ws";
import { memoryStatPath, resolveCgroupDir } from "./cgroup-dir.js";
import { CloseCode, MonitorConnection } from "./monitor-connection.js";

export interface VmMonitorOptions {
  /** `host:port`, e.g. "0.0.0.0:10301" or "[::]:10301"; port 0 picks a free one. */
  addr: string;
  /** A cgroup name under /sys/fs/cgroup or an absolute directory; only memory.stat is read. */
  cgroup: string;
  /** The agent's `-C` URL; the monitor connects as application "compute_ctl:vm-monitor". */
  connstr: string;
  /** The spec's disable_lfc_resizing: no cache is resized and Postgres is not contacted. */
  disableLfcResizing: boolean;
  log: Logger;
  /** Stops the monitor (e.g. when Postgres exits). */
  signal?: AbortSignal;
  /** Memory before the first allocation message; defaults to os.totalmem() (MemTotal), as Neon. */
  totalMemoryBytes?: number;
}

export interface VmMonitor {
  port: number;
  close(): Promise<void>;
}

export function parseListenAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--vm-monitor-addr must be host:port, got ${JSON.stringify(addr)}`);
  }
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

export async function startVmMonitor(opts: VmMonitorOptions): Promise<VmMonitor> {
  const log = opts.log.child({ component: "vm-monitor" });
  const { host, port } = parseListenAddr(opts.addr);
  const cgroupDir = resolveCgroupDir(opts.cgroup);
  const totalMemoryBytes = opts.totalMemoryBytes ?? os.totalmem();
  if (existsSync(memoryStatPath(cgroupDir))) {
    log.info({ cgroupDir }, "watching cgroup memory.stat for memory pressure");
  } else {
    log.warn(
      { cgroupDir },
      `no ${memoryStatPath(cgroupDir)}: the vm-monitor runs without memory-pressure detection (upscale requests)`,
    );
  }

  let current: MonitorConnection | null = null;
  let nextConnectionId = 1;
  let closing: Promise<void> | null = null;

  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    res.writeHead(pathname === "/monitor" ? 426 : 404, { "content-type": "text/plain" });
    res.end(pathname === "/monitor" ? "WebSocket upgrade required\n" : "not found\n");
  });

  server.on("upgrade", (req, socket, head) => {
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    if (closing || pathname !== "/monitor" || req.method !== "GET") {
      socket.end(
        `HTTP/1.1 ${closing ? "503 Service Unavailable" : "404 Not Found"}\r\nconnection: close\r\n\r\n`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connectionId = nextConnectionId++;
      const connLog = log.child({ connection: connectionId });
      if (current) {
        connLog.info("new autoscaler-agent connection replaces the previous one");
        void current.kill(CloseCode.normal, "monitor was killed due to new connection");
      }
      connLog.info(
        { remote: req.socket.remoteAddress },
        "accepted new websocket connection -> starting monitor",
      );
      const conn = new MonitorConnection(ws, {
        connstr: opts.connstr,
        disableLfcResizing: opts.disableLfcResizing,
        cgroupDir,
        totalMemoryBytes,
        log: connLog,
      });
      current = conn;
      void conn.closed.then(() => {
        if (current === conn) current = null;
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) =>
      reject(new Error(`vm-monitor cannot listen on ${opts.addr}: ${err.message}`));
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  server.on("error", (err) => log.error({ err: err.message }, "vm-monitor server error"));
  const boundPort = (server.address() as AddressInfo).port;
  log.info(
    { addr: `${host}:${boundPort}`, cgroupDir, disableLfcResizing: opts.disableLfcResizing },
    "vm-monitor listening",
  );

  const close = (): Promise<void> => {
    closing ??= (async () => {
      const serverClosed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await current?.kill(CloseCode.goingAway, "vm-monitor is shutting down");
      await serverClosed;
      wss.close();
      log.info("vm-monitor stopped");
    })();
    return closing;
  };
  if (opts.signal) {
    if (opts.signal.aborted) await close();
    else opts.signal.addEventListener("abort", () => void close(), { once: true });
  }
  return { port: boundPort, close };
}
