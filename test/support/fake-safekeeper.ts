// A protocol-level fake of a Neon safekeeper for the TIMELINE_STATUS command: a Postgres
// wire-protocol server that checks the password and answers with a row of flush_lsn and
// commit_lsn (the columns the real safekeeper sends), or no row for an unknown timeline.
import { startFakePgServer } from "./fake-pg-wire.js";

export interface FakeSafekeeperOptions {
  /** The timeline's state; null: the timeline is unknown (no row); "silent": never answer. */
  readonly status: { flush_lsn: string; commit_lsn: string } | null | "silent";
  readonly password?: string | null;
}

export interface FakeSafekeeper {
  readonly port: number;
  /** `127.0.0.1:<port>`, as safekeeper_connstrings lists them. */
  readonly address: string;
  /** Startup parameters of each TIMELINE_STATUS caller (to check tenant/timeline options). */
  readonly calls: Record<string, string>[];
  close(): Promise<void>;
}

export async function startFakeSafekeeper(opts: FakeSafekeeperOptions): Promise<FakeSafekeeper> {
  const calls: Record<string, string>[] = [];
  const server = await startFakePgServer({
    password: opts.password ?? null,
    async onQuery(session, sql) {
      if (sql.trim() !== "TIMELINE_STATUS") throw new Error(`unsupported command ${sql}`);
      calls.push(session.params);
      const status = opts.status;
      if (status === "silent") {
        await new Promise<void>((resolve) => session.socket.once("close", () => resolve()));
        return;
      }
      await session.rowDescription(["flush_lsn", "commit_lsn"]);
      if (status) await session.dataRow([status.flush_lsn, status.commit_lsn]);
      await session.commandComplete("TIMELINE_STATUS");
    },
  });
  return { port: server.port, address: `127.0.0.1:${server.port}`, calls, close: server.close };
}
