// A TCP proxy that slows what a server sends to its clients to a fixed rate per connection, as
// a slow network between a compute and its primary would: a base backup of a small cluster then
// takes seconds, long enough to watch its progress. Client-to-server bytes pass unthrottled.
import net from "node:net";

export interface ThrottledProxy {
  port: number;
  /** Bytes sent to clients so far, over all connections. */
  bytesSent(): number;
  close(): Promise<void>;
}

export async function startThrottledProxy(
  target: { host: string; port: number },
  bytesPerSecond: number,
): Promise<ThrottledProxy> {
  const sockets = new Set<net.Socket>();
  let sent = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    // Server -> client: forward a chunk, then hold the stream for the time it "takes".
    upstream.on("data", (chunk: Buffer) => {
      upstream.pause();
      client.write(chunk);
      sent += chunk.length;
      setTimeout(() => upstream.resume(), (chunk.length / bytesPerSecond) * 1000);
    });
    upstream.on("end", () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    bytesSent: () => sent,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
