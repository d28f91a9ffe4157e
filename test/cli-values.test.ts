// CLI values are checked when parsed, with exit 2 and a message naming the flag: ports 1-65535,
// -C a postgres URL, limits in range, contradictory auth flags.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { parseCli, UsageError } from "../src/cli/args.js";
import { AGENT_BIN } from "./support/agent.js";

const BASE = ["-D", "/nonexistent/pgdata", "-C", "postgresql://postgres@127.0.0.1:5432/postgres"];

test("bad values are usage errors naming the flag", () => {
  const cases: [string[], RegExp][] = [
    [["--external-http-port", "99999"], /--external-http-port expects an integer from 1 to 65535/],
    [["--internal-http-port", "0"], /--internal-http-port/],
    [["--grpc-port", "-1"], /--grpc-port/],
    [["--grpc-port", "80abc"], /--grpc-port/],
    [["--max-message-bytes", "10"], /--max-message-bytes/],
    [["--max-connections", "0"], /--max-connections/],
    [["--ready-max-age-s", "soon"], /--ready-max-age-s/],
    [["--require-auth", "--insecure-no-auth"], /contradict/],
  ];
  for (const [extra, message] of cases) {
    assert.throws(
      () => parseCli([...BASE, ...extra]),
      (e: unknown) => e instanceof UsageError && message.test(e.message),
      extra.join(" "),
    );
  }
  for (const connstr of [
    "notaurl",
    "http://x/y",
    "postgresql://u@h:99999/db",
    "postgresql://u@h/db?port=0",
    "postgresql://u@h/d\nb",
  ]) {
    assert.throws(
      () => parseCli(["-D", "/x", "-C", connstr]),
      (e: unknown) => e instanceof UsageError && /--connstr/.test(e.message),
      connstr,
    );
  }
  const ok = parseCli([...BASE, "--external-http-port", "65535", "--internal-http-host", "0.0.0.0"]);
  assert.equal(ok.kind, "run");
  if (ok.kind === "run") {
    assert.equal(ok.options.externalHttpPort, 65535);
    assert.equal(ok.options.internalHttpHost, "0.0.0.0");
    assert.equal(ok.options.maxMessageBytes, 4 * 1024 * 1024);
    assert.equal(ok.options.insecureNoAuth, false);
  }
  const defaults = parseCli(BASE);
  assert.ok(
    defaults.kind === "run" && defaults.options.internalHttpHost === "127.0.0.1",
    "internal port on loopback",
  );
});

test("the agent exits 2 for them, before binding anything", () => {
  for (const args of [
    ["-D", "/tmp/cct-x", "-C", "notaurl"],
    ["-D", "/tmp/cct-x", "-C", "postgresql://p@127.0.0.1:5/p", "--external-http-port", "99999"],
  ]) {
    const r = spawnSync(AGENT_BIN, args, { encoding: "utf8", timeout: 10_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--connstr|--external-http-port/);
    assert.doesNotMatch(r.stderr, /ERR_SOCKET|RangeError/);
  }
});
