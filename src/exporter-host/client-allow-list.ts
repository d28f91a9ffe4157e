// Which client networks may read /autoscaling_metrics: a comma-separated list of IPv4/IPv6
// addresses and CIDR blocks (`10.0.0.0/8,fd00::/8,127.0.0.1`), checked with Node's BlockList.
// Clients on an IPv6 dual-stack listener appear as `::ffff:a.b.c.d` and are judged as IPv4.
import net from "node:net";

export class ClientAllowList {
  readonly #list = new net.BlockList();
  readonly entries: readonly string[];

  constructor(spec: string) {
    const entries = spec
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    if (entries.length === 0)
      throw new Error("the allow-list is empty: give addresses or CIDR blocks, comma-separated");
    for (const entry of entries) this.#add(entry);
    this.entries = entries;
  }

  #add(entry: string): void {
    const [addr, prefixText, extra] = entry.split("/");
    const family = net.isIP(addr);
    if (family === 0 || extra !== undefined)
      throw new Error(`allow-list entry ${JSON.stringify(entry)} is not an address or CIDR block`);
    const type = family === 4 ? "ipv4" : "ipv6";
    if (prefixText === undefined) {
      this.#list.addAddress(addr, type);
      return;
    }
    const prefix = Number(prefixText);
    const max = family === 4 ? 32 : 128;
    if (!/^\d+$/.test(prefixText) || prefix > max) {
      throw new Error(`allow-list entry ${JSON.stringify(entry)}: prefix length must be 0..${max}`);
    }
    this.#list.addSubnet(addr, prefix, type);
  }

  allows(remoteAddress: string | undefined): boolean {
    if (!remoteAddress) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
    const addr = mapped ? mapped[1] : remoteAddress;
    const family = net.isIP(addr);
    if (family === 0) return false;
    return this.#list.check(addr, family === 4 ? "ipv4" : "ipv6");
  }
}
