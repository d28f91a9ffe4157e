// One autoscaler-agent connection: version negotiation, then set-up (Postgres session, cache
// choice and initial size, cgroup watcher) bounded to 4 s, then message handling in arrival
// order. Messages that arrive during set-up wait for it, as they wait in Neon's socket buffer.
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import type { Logger } from "pino";
import WebSocket, { type RawData } from "ws";
import { memoryStatPath } from "./cgroup-dir.js";
import { CgroupMemoryWatcher } from "./cgroup-memory-watcher.js";
import { chooseManagedCache, type ManagedCache } from "./managed-cache.js";
import { decodeInbound, encodeOutbound, type OutboundMessage } from "./messages.js";
import { MonitorPgSession } from "./monitor-pg-session.js";
import { encodeNegotiationReply, negotiate, parseProtocolRange } from "./protocol-version.js";
import { MonitorRunner } from "./runner.js";

export const CONNECTION_SETUP_TIMEOUT_MS = 4_000;
/** How long a closing handshake may take before the socket is cut. */
const CLOSE_GRACE_MS = 1_000;

/** WebSocket close codes used by the monitor. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  internalError: 1011,
} as const;

export interface ConnectionConfig {
  connstr: string;
  disableLfcResizing: boolean;
  cgroupDir: string;
  totalMemoryBytes: number;
  log: Logger;
  setupTimeoutMs?: number;
}

type State = "negotiating" | "setting-up" | "running" | "closed";

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data as ArrayBuffer).toString("utf8");
}

/** Close reasons are limited to 123 bytes. */
function closeReason(text: string): string {
  let out = text;
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1);
  return out;
}

export class MonitorConnection {
  private state: State = "negotiating";
  private readonly pending: { data: RawData; isBinary: boolean }[] = [];
  private chain: Promise<void> = Promise.resolve();
  private session: MonitorPgSession | null = null;
  private watcher: CgroupMemoryWatcher | null = null;
  private runner: MonitorRunner | null = null;
  private readonly setupTimer: NodeJS.Timeout;
  private resolveClosed!: () => void;
  /** Resolves once the socket is closed and everything the connection opened is released. */
  readonly closed: Promise<void>;
  private readonly log: Logger;

  constructor(
    private readonly ws: WebSocket,
    private readonly config: ConnectionConfig,
  ) {
    this.log = config.log;
    this.closed = new Promise((r) => {
      this.resolveClosed = r;
    });
    this.setupTimer = setTimeout(
      () => this.onSetupTimeout(),
      config.setupTimeoutMs ?? CONNECTION_SETUP_TIMEOUT_MS,
    );
    ws.on("message", (data, isBinary) => this.onFrame(data, isBinary));
    ws.on("error", (err) => this.log.warn({ err: err.message }, "vm-monitor websocket error"));
    ws.on("close", (code, reason) => {
      if (this.state !== "closed") {
        this.log.info({ code, reason: reason.toString() }, "autoscaler-agent closed the connection");
      }
      void this.release();
    });
  }

  /** Read through a getter so TypeScript does not narrow it across awaits. */
  private get isClosed(): boolean {
    return this.state === "closed";
  }

  /** Ends the connection with a close frame (cut after a grace period) and releases everything. */
  kill(code: number, reason: string): Promise<void> {
    if (this.state !== "closed") {
      this.log.info({ code, reason }, "closing vm-monitor connection");
      this.state = "closed";
      if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
        this.ws.close(code, closeReason(reason));
        const cut = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
        this.ws.once("close", () => clearTimeout(cut));
      }
      void this.release();
    }
    return this.closed;
  }

  private async release(): Promise<void> {
    this.state = "closed";
    clearTimeout(this.setupTimer);
    this.watcher?.stop();
    const session = this.session;
    this.session = null;
    await session?.close();
    if (this.ws.readyState === WebSocket.CLOSED) this.resolveClosed();
    else this.ws.once("close", () => this.resolveClosed());
  }

  private onSetupTimeout(): void {
    if (this.state === "negotiating" || this.state === "setting-up") {
      this.log.error(
        { timeoutMs: this.config.setupTimeoutMs ?? CONNECTION_SETUP_TIMEOUT_MS, stage: this.state },
        "creating monitor timed out (probably waiting to receive protocol range)",
      );
      void this.kill(
        this.state === "negotiating" ? CloseCode.protocolError : CloseCode.internalError,
        "creating monitor timed out",
      );
    }
  }

  private send(msg: OutboundMessage): void {
    if (this.state === "closed" || this.ws.readyState !== WebSocket.OPEN) return;
    const text = encodeOutbound(msg);
    if (msg.type === "HealthCheck") this.log.debug({ message: text }, "sending message");
    else this.log.info({ message: text }, "sending message");
    this.ws.send(text);
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    switch (this.state) {
      case "negotiating":
        this.onProtocolRange(data, isBinary);
        return;
      case "setting-up":
        this.pending.push({ data, isBinary });
        return;
      case "running":
        this.onMessage(data, isBinary);
        return;
      case "closed":
        return;
    }
  }

  private onProtocolRange(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.log.error("autoscaler-agent sent a non-text frame during the protocol handshake");
      void this.kill(CloseCode.unsupportedData, "expected a text frame with the protocol version range");
      return;
    }
    const parsed = parseProtocolRange(rawText(data));
    const result = parsed.ok ? negotiate(parsed.range) : { ok: false as const, error: parsed.error };
    this.ws.send(encodeNegotiationReply(result));
    if (!result.ok) {
      this.log.error({ error: result.error }, "protocol version negotiation failed");
      void this.kill(CloseCode.protocolError, "protocol version negotiation failed");
      return;
    }
    this.log.info({ version: result.version }, "negotiated protocol version with autoscaler-agent");
    this.state = "setting-up";
    this.setUp().catch((err: Error) => {
      if (this.isClosed) return;
      this.log.error({ err: err.message }, "failed to create monitor");
      void this.kill(CloseCode.internalError, `failed to create monitor: ${err.message}`);
    });
  }

  private async chooseCache(): Promise<{ cache: ManagedCache | null; reason?: string }> {
    if (this.config.disableLfcResizing) {
      return {
        cache: null,
        reason: "file cache resizing is disabled by the compute spec (disable_lfc_resizing)",
      };
    }
    this.session = new MonitorPgSession(this.config.connstr, this.log);
    await this.session.open();
    return chooseManagedCache(this.session, this.log);
  }

  private async memoryReason(statPath: string): Promise<string | null> {
    try {
      await access(statPath, constants.R_OK);
      return null;
    } catch (err) {
      return `${statPath} is not readable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    }
  }

  private async setUp(): Promise<void> {
    const { cache, reason: cacheReason } = await this.chooseCache();
    if (this.isClosed) return;
    const statPath = memoryStatPath(this.config.cgroupDir);
    const memoryReason = await this.memoryReason(statPath);
    if (memoryReason) {
      this.log.warn(
        { reason: memoryReason },
        "no cgroup memory stats: running without memory-pressure detection",
      );
    } else {
      this.watcher = new CgroupMemoryWatcher(statPath, this.log, (snapshot) =>
        this.runner?.onMemorySample(snapshot),
      );
    }
    const runner = new MonitorRunner({
      log: this.log,
      send: (msg) => this.send(msg),
      cache,
      cacheReason,
      memory: this.watcher,
      memoryReason: memoryReason ?? undefined,
      totalMemoryBytes: this.config.totalMemoryBytes,
    });
    await runner.initialise();
    if (this.isClosed) return;
    clearTimeout(this.setupTimer);
    this.runner = runner;
    this.state = "running";
    this.watcher?.start();
    this.log.info(
      { cache: cache?.setting ?? null, cacheReason, memoryPressure: !memoryReason },
      "connected to autoscaler-agent",
    );
    for (const frame of this.pending.splice(0)) this.onMessage(frame.data, frame.isBinary);
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.log.warn("autoscaler-agent should only send text messages but sent a binary one; ignored");
      return;
    }
    const text = rawText(data);
    const decoded = decodeInbound(text);
    if (!decoded.ok) {
      // Neon ends the connection here; answering InvalidMessage (a type both sides define) keeps
      // the agent's connection and its pending calls alive.
      this.log.warn({ error: decoded.error, id: decoded.id }, "received a message that could not be decoded");
      this.send({ type: "InvalidMessage", id: decoded.id, error: decoded.error });
      return;
    }
    const message = decoded.message;
    if (message.type === "HealthCheck") this.log.debug({ message: text }, "received message");
    else this.log.info({ message: text }, "received message");
    const runner = this.runner;
    if (!runner) return;
    // One message at a time, in order, like Neon's run loop.
    this.chain = this.chain.then(async () => {
      const reply = await runner.handle(message);
      if (reply) this.send(reply);
    });
  }
}
