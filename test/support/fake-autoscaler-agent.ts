// A protocol-level fake of Neon's autoscaler-agent, written from the protocol reference
// (shared/reference/neon_metrics_autoscaling.md section 5), not from our monitor's code. It dials
// ws://host:port/monitor, sends `{"min":1,"max":1}`, reads `{"version"}`/`{"error"}`, then speaks
// v1 like the Go dispatcher: requests are `{"content":{...},"type":"T","id":N}` with even ids
// from 2, replies are matched to waiters by id, and monitor messages are decoded from the flat
// `{"type":...,fields,"id":N}` shape. Anything the real agent would object to is recorded in
// `violations` (and answered with InvalidMessage, as the agent does) so tests can assert on it.
import WebSocket from "ws";

export interface Allocation {
  cpu: number;
  mem: number;
}

/** A monitor message as decoded by the agent: `type`, `id` and the flattened fields. */
export type MonitorMessage = { type: string; id: number } & Record<string, unknown>;

export interface ReceivedMessage {
  /** performance.now() when it arrived. */
  at: number;
  raw: string;
  message: MonitorMessage;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export interface NegotiationOutcome {
  ws: WebSocket;
  raw: string;
  version?: number;
  error?: string;
  closed: Promise<CloseInfo>;
}

/** The agent's defaults: connectionTimeoutSeconds 4, responseTimeoutSeconds 5. */
export const CONNECTION_TIMEOUT_MS = 4_000;
export const RESPONSE_TIMEOUT_MS = 5_000;

function closedPromise(ws: WebSocket): Promise<CloseInfo> {
  return new Promise((resolve) => {
    ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() }));
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (err) => {
        clearTimeout(t);
        reject(err);
      },
    );
  });
}

/** Dials and performs only the version handshake; the caller decides what happens next. */
export async function negotiate(
  url: string,
  range: { min: number; max: number },
): Promise<NegotiationOutcome> {
  const ws = new WebSocket(url);
  const closed = closedPromise(ws);
  ws.on("error", () => {}); // surfaced through `closed` / the timeouts
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    }),
    CONNECTION_TIMEOUT_MS,
    "websocket dial",
  );
  const reply = new Promise<string>((resolve, reject) => {
    ws.once("message", (data, isBinary) => {
      if (isBinary) reject(new Error("monitor answered the protocol range with a binary frame"));
      else resolve(data.toString());
    });
    void closed.then((c) => reject(new Error(`monitor closed during the handshake (${c.code} ${c.reason})`)));
  });
  // Go: wsjson.Write(api.VersionRange{Min, Max}) -> {"min":1,"max":1}
  ws.send(JSON.stringify({ min: range.min, max: range.max }));
  const raw = await withTimeout(reply, CONNECTION_TIMEOUT_MS, "protocol handshake");
  // Go: MonitorProtocolResponse{ Version uint32 `json:"version,omitempty"`; Error *string `json:"error,omitempty"` }
  const parsed = JSON.parse(raw) as { version?: unknown; error?: unknown };
  return {
    ws,
    raw,
    closed,
    version: typeof parsed.version === "number" ? parsed.version : undefined,
    error: typeof parsed.error === "string" ? parsed.error : undefined,
  };
}

interface Waiter {
  resolve(m: MonitorMessage): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class FakeAutoscalerAgent {
  readonly received: ReceivedMessage[] = [];
  readonly upscaleRequests: ReceivedMessage[] = [];
  readonly invalidMessages: ReceivedMessage[] = [];
  /** Things the real agent would reject or complain about. Tests expect it to stay empty. */
  readonly violations: string[] = [];
  readonly closed: Promise<CloseInfo>;
  private lastTransactionId = 0;
  private readonly waiters = new Map<number, Waiter>();
  private listeners: (() => void)[] = [];

  private constructor(
    readonly ws: WebSocket,
    readonly version: number,
    closed: Promise<CloseInfo>,
  ) {
    this.closed = closed;
    ws.on("message", (data, isBinary) => this.onMessage(data.toString(), isBinary));
    void closed.then((c) => {
      for (const [id, w] of this.waiters) {
        clearTimeout(w.timer);
        w.reject(new Error(`connection closed (${c.code} ${c.reason}) while waiting for reply to ${id}`));
      }
      this.waiters.clear();
    });
  }

  /** Dials `url` (ws://host:port/monitor) and negotiates; throws on `{"error"}`. */
  static async connect(url: string, range = { min: 1, max: 1 }): Promise<FakeAutoscalerAgent> {
    const n = await negotiate(url, range);
    if (n.error !== undefined || n.version === undefined) {
      // The agent closes with StatusProtocolError (1002) on a handshake error.
      n.ws.close(1002);
      throw new Error(
        `monitor returned error during protocol handshake: ${JSON.stringify(n.error ?? n.raw)}`,
      );
    }
    return new FakeAutoscalerAgent(n.ws, n.version, n.closed);
  }

  /** Go's SerializeMonitorMessage: Bundle{Content, Type, Id} -> {"content":..,"type":..,"id":..}. */
  static serialize(type: string, content: object, id: number): string {
    return JSON.stringify({ content, type, id });
  }

  private nextId(): number {
    // lastTransactionID.Add(2): 2, 4, 6, ... (even; the monitor mints odd ids)
    this.lastTransactionId += 2;
    return this.lastTransactionId;
  }

  private call(type: string, content: object): Promise<MonitorMessage> {
    const id = this.nextId();
    return new Promise<MonitorMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`no reply to ${type} ${id} within ${RESPONSE_TIMEOUT_MS} ms`));
      }, RESPONSE_TIMEOUT_MS);
      this.waiters.set(id, { resolve, reject, timer });
      this.ws.send(FakeAutoscalerAgent.serialize(type, content, id));
    });
  }

  healthCheck(): Promise<MonitorMessage> {
    return this.call("HealthCheck", {});
  }

  upscaleNotification(granted: Allocation): Promise<MonitorMessage> {
    return this.call("UpscaleNotification", { granted: { cpu: granted.cpu, mem: granted.mem } });
  }

  downscaleRequest(target: Allocation): Promise<MonitorMessage> {
    return this.call("DownscaleRequest", { target: { cpu: target.cpu, mem: target.mem } });
  }

  /**
   * A DownscaleRequest sent again while the monitor answers that it has not sampled the cgroup
   * enough yet (its first samples arrive every 100 ms, later on a busy machine); a denial for
   * that reason changes nothing in the monitor.
   */
  async downscaleRequestWhenSampled(target: Allocation, timeoutMs = 60_000): Promise<MonitorMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = await this.downscaleRequest(target);
      if (reply.Status !== "haven't received enough cgroup memory stats yet" || Date.now() > deadline)
        return reply;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The agent's own notifications (no reply expected). */
  sendInvalidMessage(id: number, error: string): void {
    this.ws.send(FakeAutoscalerAgent.serialize("InvalidMessage", { error }, id));
  }

  sendInternalError(id: number, error: string): void {
    this.ws.send(FakeAutoscalerAgent.serialize("InternalError", { error }, id));
  }

  /** Sends arbitrary bytes, e.g. something undecodable. */
  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Resolves with the first message (already received or future) matching `pred`. */
  waitFor(
    pred: (m: ReceivedMessage) => boolean,
    timeoutMs: number,
    what = "message",
  ): Promise<ReceivedMessage> {
    const found = this.received.find(pred);
    if (found) return Promise.resolve(found);
    return withTimeout(
      new Promise<ReceivedMessage>((resolve) => {
        const check = () => {
          const m = this.received.find(pred);
          if (!m) return;
          this.listeners = this.listeners.filter((l) => l !== check);
          resolve(m);
        };
        this.listeners.push(check);
      }),
      timeoutMs,
      `waiting for ${what}`,
    );
  }

  async close(): Promise<CloseInfo> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    const t = setTimeout(() => this.ws.terminate(), 2_000);
    const info = await this.closed;
    clearTimeout(t);
    return info;
  }

  private violation(text: string): void {
    this.violations.push(text);
  }

  private replyToWaiter(type: string, id: number, message: MonitorMessage): void {
    const waiter = this.waiters.get(id);
    if (!waiter) {
      const error = `Received ${type} with id ${id} but id is unknown or already timed out waiting for a reply`;
      this.violation(error);
      this.sendInvalidMessage(id, error);
      return;
    }
    this.waiters.delete(id);
    clearTimeout(waiter.timer);
    waiter.resolve(message);
  }

  private onMessage(raw: string, isBinary: boolean): void {
    if (isBinary) {
      this.violation("monitor sent a binary frame");
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      this.violation(`error deserializing message: ${JSON.stringify(raw)}`);
      return;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.violation(`monitor message is not a JSON object: ${raw}`);
      return;
    }
    const obj = value as Record<string, unknown>;
    if (typeof obj.type !== "string") {
      this.violation(`error extracting 'type' field: ${raw}`);
      return;
    }
    if (typeof obj.id !== "number" || !Number.isInteger(obj.id) || obj.id < 0) {
      this.violation(`error extracting 'id' field: ${raw}`);
      return;
    }
    const message = obj as MonitorMessage;
    const received: ReceivedMessage = { at: performance.now(), raw, message };
    this.received.push(received);
    switch (message.type) {
      case "UpscaleRequest":
        // Monitor-initiated: its ids are odd.
        if (message.id % 2 !== 1) this.violation(`UpscaleRequest with even id ${message.id}`);
        this.upscaleRequests.push(received);
        break;
      case "DownscaleResult":
        // api.DownscaleResult{Ok bool; Status string} has no json tags: keys are capitalised.
        if (typeof message.Ok !== "boolean" || typeof message.Status !== "string") {
          this.violation(`DownscaleResult without boolean Ok / string Status: ${raw}`);
        }
        this.replyToWaiter(message.type, message.id, message);
        break;
      case "InternalError":
        if (typeof message.error !== "string") this.violation(`InternalError without string error: ${raw}`);
        this.replyToWaiter(message.type, message.id, message);
        break;
      case "UpscaleConfirmation":
      case "HealthCheck":
        this.replyToWaiter(message.type, message.id, message);
        break;
      case "InvalidMessage":
        if (typeof message.error !== "string") this.violation(`InvalidMessage without string error: ${raw}`);
        this.invalidMessages.push(received);
        break;
      default: {
        const error = `Received message of unknown type: ${JSON.stringify(message.type)}`;
        this.violation(error);
        this.sendInvalidMessage(message.id, error);
      }
    }
    for (const l of [...this.listeners]) l();
  }
}
