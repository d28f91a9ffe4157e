// A minimal Postgres wire-protocol (v3) server for protocol-level fakes of Neon's services
// (pageserver, safekeepers): startup with optional cleartext password auth, simple Query, and
// the backend messages those services send. Real clients (node-postgres, libpq) talk to it.
import net from "node:net";

const PROTOCOL_V3 = 196608;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const cstr = (s: string) => Buffer.from(`${s}\0`, "utf8");
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const int16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};

/** Reads whole messages off a socket, in order. */
class MessageReader {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private ended = false;

  constructor(socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    const end = () => {
      this.ended = true;
      this.waiter?.();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  private async need(n: number): Promise<boolean> {
    while (this.buf.length < n) {
      if (this.ended) return false;
      await new Promise<void>((r) => {
        this.waiter = r;
      });
      this.waiter = null;
    }
    return true;
  }

  private take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The untyped first message (startup, SSLRequest, ...): its code and body. */
  async initial(): Promise<{ code: number; body: Buffer } | null> {
    if (!(await this.need(8))) return null;
    const len = this.buf.readInt32BE(0);
    if (!(await this.need(len))) return null;
    const msg = this.take(len);
    return { code: msg.readInt32BE(4), body: msg.subarray(8) };
  }

  async next(): Promise<{ type: string; body: Buffer } | null> {
    if (!(await this.need(5))) return null;
    const len = this.buf.readInt32BE(1);
    if (!(await this.need(len + 1))) return null;
    const msg = this.take(len + 1);
    return { type: String.fromCharCode(msg[0]), body: msg.subarray(5) };
  }
}

/** One client connection as the query handler sees it. */
export class WireSession {
  constructor(
    readonly socket: net.Socket,
    /** Startup parameters (user, database, options, application_name, ...). */
    readonly params: Record<string, string>,
    readonly password: string | null,
  ) {}

  /** Writes raw bytes, waiting for the socket to drain (backpressure for big streams). */
  async write(buf: Buffer): Promise<void> {
    if (this.socket.destroyed) throw new Error("client went away");
    if (!this.socket.write(buf)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          this.socket.off("close", onClose);
          resolve();
        };
        const onClose = () => {
          this.socket.off("drain", onDrain);
          reject(new Error("client went away"));
        };
        this.socket.once("drain", onDrain);
        this.socket.once("close", onClose);
      });
    }
  }

  rowDescription(columns: string[]): Promise<void> {
    const cols = columns.map((c) =>
      Buffer.concat([cstr(c), int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(0)]),
    );
    return this.write(message("T", Buffer.concat([int16(columns.length), ...cols])));
  }

  dataRow(values: (string | null)[]): Promise<void> {
    const cells = values.map((v) => {
      if (v === null) return int32(-1);
      const b = Buffer.from(v, "utf8");
      return Buffer.concat([int32(b.length), b]);
    });
    return this.write(message("D", Buffer.concat([int16(values.length), ...cells])));
  }

  commandComplete(tag: string): Promise<void> {
    return this.write(message("C", cstr(tag)));
  }

  /** CopyOutResponse: text format, no columns (as the pageserver announces a basebackup). */
  copyOutResponse(): Promise<void> {
    return this.write(message("H", Buffer.concat([Buffer.from([0]), int16(0)])));
  }

  copyData(chunk: Buffer): Promise<void> {
    return this.write(message("d", chunk));
  }

  copyDone(): Promise<void> {
    return this.write(message("c"));
  }

  error(text: string, code = "XX000", severity = "ERROR"): Promise<void> {
    return this.write(
      message(
        "E",
        Buffer.concat([
          cstr(`S${severity}`),
          cstr(`V${severity}`),
          cstr(`C${code}`),
          cstr(`M${text}`),
          Buffer.from([0]),
        ]),
      ),
    );
  }
}

export interface FakePgServerOptions {
  /** Required cleartext password (Neon's services take the JWT this way); null: no auth. */
  readonly password?: string | null;
  /** Return false to drop the connection at once (the n-th connection, 0-based). */
  readonly accept?: (n: number) => boolean;
  /** Answers one simple Query; ReadyForQuery is sent after it returns. Throwing sends an ErrorResponse. */
  readonly onQuery: (session: WireSession, sql: string, n: number) => Promise<void>;
}

export interface FakePgServer {
  readonly port: number;
  /** Connections accepted so far (including dropped ones). */
  connections(): number;
  close(): Promise<void>;
}

async function serve(socket: net.Socket, n: number, opts: FakePgServerOptions): Promise<void> {
  const reader = new MessageReader(socket);
  let first = await reader.initial();
  while (first && (first.code === SSL_REQUEST || first.code === GSSENC_REQUEST)) {
    socket.write("N");
    first = await reader.initial();
  }
  if (!first || first.code === CANCEL_REQUEST || first.code !== PROTOCOL_V3) {
    socket.destroy();
    return;
  }
  const params: Record<string, string> = {};
  const parts = first.body.toString("utf8").split("\0");
  for (let i = 0; i + 1 < parts.length && parts[i]; i += 2) params[parts[i]] = parts[i + 1];
  let password: string | null = null;
  if (opts.password != null) {
    socket.write(message("R", int32(3)));
    const msg = await reader.next();
    password = msg?.type === "p" ? msg.body.toString("utf8").replace(/\0$/, "") : null;
    if (password !== opts.password) {
      const s = new WireSession(socket, params, password);
      await s.error("password authentication failed", "28P01", "FATAL").catch(() => {});
      socket.end();
      return;
    }
  }
  const session = new WireSession(socket, params, password);
  await session.write(
    Buffer.concat([
      message("R", int32(0)),
      message("S", Buffer.concat([cstr("server_version"), cstr("15.0")])),
      message("K", Buffer.concat([int32(n + 1), int32(42)])),
      message("Z", Buffer.from("I")),
    ]),
  );
  for (;;) {
    const msg = await reader.next();
    if (!msg || msg.type === "X") break;
    if (msg.type !== "Q") {
      await session.error(`unsupported message ${msg.type}`);
      continue;
    }
    const sql = msg.body.toString("utf8").replace(/\0$/, "");
    try {
      await opts.onQuery(session, sql, n);
    } catch (err) {
      if (socket.destroyed) return;
      await session.error(err instanceof Error ? err.message : String(err));
    }
    if (socket.destroyed) return;
    await session.write(message("Z", Buffer.from("I")));
  }
  socket.end();
}

export async function startFakePgServer(opts: FakePgServerOptions): Promise<FakePgServer> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((socket) => {
    const n = count++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    if (opts.accept && !opts.accept(n)) {
      socket.destroy();
      return;
    }
    serve(socket, n, opts).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
